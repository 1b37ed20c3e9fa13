;; A hand-written core module implementing the canonical ABI for
;;
;;   world base-provider { export base-name; }   // get-base: func() -> string
;;
;; get-base always returns "Wharf". No imports.
(module
  (memory (export "memory") 1)
  (data (i32.const 16) "Wharf")
  ;; The (ptr, len) return area at 64: (16, 5).
  (data (i32.const 64) "\10\00\00\00\05\00\00\00")
  (func (export "wharf:compose/base-name@0.1.0#get-base") (result i32)
    (i32.const 64))
)
