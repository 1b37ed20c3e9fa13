;; A hand-written core module implementing the canonical ABI for
;;
;;   world name-provider { export name-source; }   // at 0.1.1
;;
;; get-name always returns "Next". No imports.
(module
  (memory (export "memory") 1)
  (data (i32.const 16) "Next")
  ;; The (ptr, len) return area at 64: (16, 4).
  (data (i32.const 64) "\10\00\00\00\04\00\00\00")
  (func (export "wharf:compose/name-source@0.1.1#get-name") (result i32)
    (i32.const 64))
)
