;; A hand-written core module for
;;
;;   world loop { import name-source; export base-name; }
;;
;; get-base returns what the imported get-name returns. Composed with the relay
;; (which needs a base name to provide a name source) it forms a cycle, which
;; `wharf compose plug` refuses; it is never run.
(module
  (import "wharf:compose/name-source@0.1.0" "get-name" (func $get_name (param i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  ;; A bump allocator (results are only ever allocated, never grown).
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get 3)))
    (local.get $ptr))
  (func (export "wharf:compose/base-name@0.1.0#get-base") (result i32)
    (call $get_name (i32.const 64))
    (i32.const 64))
)
