;; A hand-written core module implementing the canonical ABI for
;;
;;   world relay { import base-name; export name-source; }
;;
;; get-name returns what the imported get-base returns: a plug whose import
;; another plug satisfies.
(module
  (import "wharf:compose/base-name@0.1.0" "get-base" (func $get_base (param i32)))
  (memory (export "memory") 1)

  ;; Bump pointer for the strings get-base returns (reset on every call).
  (global $heap (mut i32) (i32.const 1024))

  ;; cabi_realloc(old_ptr, old_size, align, new_size) -> ptr: a bump allocator
  ;; (old_ptr is always 0 here: results are only ever allocated, never grown).
  (func (export "cabi_realloc")
    (param $old i32) (param $old_size i32) (param $align i32) (param $new_size i32)
    (result i32)
    (local $ptr i32)
    (local.set $ptr
      (i32.and
        (i32.sub (i32.add (global.get $heap) (local.get $align)) (i32.const 1))
        (i32.sub (i32.const 0) (local.get $align))))
    (global.set $heap (i32.add (local.get $ptr) (local.get $new_size)))
    (if (i32.gt_u (global.get $heap) (i32.shl (memory.size) (i32.const 16)))
      (then unreachable))
    (local.get $ptr))

  ;; get-name() -> pointer to (ptr, len): get-base's (ptr, len), at 64.
  (func (export "wharf:compose/name-source@0.1.0#get-name") (result i32)
    (global.set $heap (i32.const 1024))
    (call $get_base (i32.const 64))
    (i32.const 64))
)
