;; A hand-written core module implementing the canonical ABI for
;;
;;   world name-provider { export name-source; }   // get-name: func() -> string
;;
;; get-name always returns "World". No imports.
(module
  (memory (export "memory") 1)
  (data (i32.const 16) "World")
  ;; The (ptr, len) return area at 64: (16, 5).
  (data (i32.const 64) "\10\00\00\00\05\00\00\00")
  (func (export "wharf:compose/name-source@0.1.0#get-name") (result i32)
    (i32.const 64))
)
