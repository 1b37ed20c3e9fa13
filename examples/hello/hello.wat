;; A hand-written core module implementing the canonical ABI for
;;
;;   world hello { export greet: func(name: string) -> string; }
;;
;; `wharf-examples` (build-examples) embeds the WIT metadata and wraps this
;; module into a component with wit-component. No imports, no WASI.
(module
  (memory (export "memory") 1)

  ;; Bump pointer: the next free byte. Starts after the static data.
  (global $heap (mut i32) (i32.const 1024))

  ;; Static data.
  (data (i32.const 16) "Hello, ")  ;; 7 bytes at 16
  (data (i32.const 32) "!")        ;; 1 byte at 32
  ;; The (ptr, len) return area lives at 64..72.

  ;; Bump-allocate `size` bytes aligned to `align`, growing memory if needed.
  (func $alloc (param $align i32) (param $size i32) (result i32)
    (local $ptr i32)
    (local $end i32)
    (local $pages i32)
    (if (i32.eqz (local.get $align))
      (then (local.set $align (i32.const 1))))
    ;; ptr = (heap + align - 1) & -align
    (local.set $ptr
      (i32.and
        (i32.sub (i32.add (global.get $heap) (local.get $align)) (i32.const 1))
        (i32.sub (i32.const 0) (local.get $align))))
    (local.set $end (i32.add (local.get $ptr) (local.get $size)))
    ;; overflow check
    (if (i32.lt_u (local.get $end) (local.get $ptr))
      (then unreachable))
    ;; grow memory if end > current size in bytes
    (if (i32.gt_u (local.get $end) (i32.shl (memory.size) (i32.const 16)))
      (then
        (local.set $pages
          (i32.sub
            (i32.shr_u (i32.add (local.get $end) (i32.const 0xffff)) (i32.const 16))
            (memory.size)))
        (if (i32.eq (memory.grow (local.get $pages)) (i32.const -1))
          (then unreachable))))
    (global.set $heap (local.get $end))
    (local.get $ptr))

  ;; cabi_realloc(old_ptr, old_size, align, new_size) -> ptr
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

  ;; greet(ptr, len) -> pointer to (ptr, len) of "Hello, <name>!"
  (func (export "greet") (param $name i32) (param $len i32) (result i32)
    (local $out i32)
    (local $total i32)
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

  ;; Called after the host has copied the result out: reset the bump
  ;; allocator so repeated calls do not leak memory.
  (func (export "cabi_post_greet") (param i32)
    (global.set $heap (i32.const 1024)))
)
