;; A hand-written core module implementing the canonical ABI for
;;
;;   world greeter { import name-source; export greet: func() -> string; }
;;
;; greet() asks the imported name source for a name and returns "Hello, <name>!".
(module
  (import "wharf:compose/name-source@0.1.0" "get-name" (func $get_name (param i32)))
  (memory (export "memory") 1)

  ;; Bump pointer: the next free byte. Starts after the static data.
  (global $heap (mut i32) (i32.const 1024))

  (data (i32.const 16) "Hello, ")  ;; 7 bytes at 16
  (data (i32.const 32) "!")        ;; 1 byte at 32
  ;; The (ptr, len) return area of greet lives at 64..72, get-name's at 96..104.

  ;; Bump-allocate `size` bytes aligned to `align` (memory is grown as needed).
  (func $alloc (param $align i32) (param $size i32) (result i32)
    (local $ptr i32)
    (local $end i32)
    (if (i32.eqz (local.get $align))
      (then (local.set $align (i32.const 1))))
    (local.set $ptr
      (i32.and
        (i32.sub (i32.add (global.get $heap) (local.get $align)) (i32.const 1))
        (i32.sub (i32.const 0) (local.get $align))))
    (local.set $end (i32.add (local.get $ptr) (local.get $size)))
    (if (i32.lt_u (local.get $end) (local.get $ptr))
      (then unreachable))
    (if (i32.gt_u (local.get $end) (i32.shl (memory.size) (i32.const 16)))
      (then
        (if (i32.eq
              (memory.grow
                (i32.sub
                  (i32.shr_u (i32.add (local.get $end) (i32.const 0xffff)) (i32.const 16))
                  (memory.size)))
              (i32.const -1))
          (then unreachable))))
    (global.set $heap (local.get $end))
    (local.get $ptr))

  ;; cabi_realloc(old_ptr, old_size, align, new_size) -> ptr: where the name
  ;; source's string is copied when get-name returns.
  (func (export "cabi_realloc")
    (param $old i32) (param $old_size i32) (param $align i32) (param $new_size i32)
    (result i32)
    (local $new i32)
    (local.set $new (call $alloc (local.get $align) (local.get $new_size)))
    (if (i32.ne (local.get $old) (i32.const 0))
      (then
        (memory.copy
          (local.get $new)
          (local.get $old)
          (select (local.get $old_size) (local.get $new_size)
            (i32.lt_u (local.get $old_size) (local.get $new_size))))))
    (local.get $new))

  ;; greet() -> pointer to (ptr, len) of "Hello, <name>!"
  (func (export "greet") (result i32)
    (local $name i32)
    (local $len i32)
    (local $out i32)
    (local $total i32)
    (call $get_name (i32.const 96))
    (local.set $name (i32.load (i32.const 96)))
    (local.set $len (i32.load (i32.const 100)))
    (local.set $total (i32.add (local.get $len) (i32.const 8)))
    (local.set $out (call $alloc (i32.const 1) (local.get $total)))
    (memory.copy (local.get $out) (i32.const 16) (i32.const 7))
    (memory.copy (i32.add (local.get $out) (i32.const 7)) (local.get $name) (local.get $len))
    (memory.copy
      (i32.add (local.get $out) (i32.add (local.get $len) (i32.const 7)))
      (i32.const 32) (i32.const 1))
    (i32.store (i32.const 64) (local.get $out))
    (i32.store (i32.const 68) (local.get $total))
    (i32.const 64))

  ;; Called after the caller has copied the result out: reset the allocator.
  (func (export "cabi_post_greet") (param i32)
    (global.set $heap (i32.const 1024)))
)
