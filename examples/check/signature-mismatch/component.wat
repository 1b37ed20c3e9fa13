;; check(req: request, strict: bool) -> bool, and log(level: u32, code: u64).
(module
  (import "acme:plugins/host@0.1.0" "log" (func $log (param i32 i64)))
  (func (export "acme:plugins/filter@0.1.0#check")
    (param $id i32) (param $size i32) (param $strict i32) (result i32)
    (call $log (i32.const 0) (i64.extend_i32_u (local.get $id)))
    (i32.lt_u (local.get $size) (select (i32.const 512) (i32.const 1024) (local.get $strict))))
)
