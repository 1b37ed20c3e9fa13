#![allow(clippy::unwrap_used)]

use wit_component::{ComponentEncoder, StringEncoding};

use super::render::{Names, Render};
use super::report::SemverBasis;
use super::report::function_segment;
use super::semver::{is_safe, lookup, near_misses};
use super::*;
use crate::error::{Error, Result};
use wac_types::ItemKind;
use wit_parser::Resolve;

/// Loads `text` as a one-file WIT package.
fn wit(text: &str) -> Wit {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("world.wit");
    std::fs::write(&path, text).unwrap();
    Wit::load(&path).unwrap()
}

/// Builds a component from `wat` implementing `world` of the WIT `text`.
fn component(text: &str, world: &str, wat: &str) -> Vec<u8> {
    let mut resolve = Resolve::default();
    let package = resolve.push_source("component.wit", text).unwrap();
    let world = resolve.select_world(&[package], Some(world)).unwrap();
    let mut module = wat::parse_str(wat).unwrap();
    wit_component::embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8).unwrap();
    ComponentEncoder::default().validate(true).module(&module).unwrap().encode().unwrap()
}

const SHAPES: &str = r#"
package acme:shapes@1.2.0;

interface shapes {
  record point { x: s32, y: s32 }
  variant shape { circle(f64), square(u32), nothing }
  enum color { red, green }
  flags style { bold, italic }
  type coords = list<point>;
  resource canvas {
    constructor(width: u32);
    draw: func(s: shape, at: option<point>) -> result<u32, string>;
    from-file: static func(path: string) -> canvas;
  }
  paint: func(c: borrow<canvas>, style: style, colors: tuple<color, color>) -> result;
  sum: func(pts: list<point>) -> s64;
}

world app {
  export shapes;
}

world other {
  export f: func();
}
"#;

#[test]
fn semver_tracks_follow_the_wasmtime_rule() {
    let track = |n| semver_track(n).map(|(t, _)| t);
    assert_eq!(track("a:b/c@0.2.3"), Some("a:b/c@0.2"));
    assert_eq!(track("a:b/c@1.4.0"), Some("a:b/c@1"));
    assert_eq!(track("a:b/c@2.0.0+build"), Some("a:b/c@2"));
    assert_eq!(track("a:b/c@0.0.1"), None);
    assert_eq!(track("a:b/c@0.3.0-rc.1"), None);
    assert_eq!(track("a:b/c@1.0.0-pre"), None);
    assert_eq!(track("a:b/c"), None);
    assert_eq!(track("greet"), None);
}

#[test]
fn lookup_prefers_the_exact_name_then_the_highest_on_the_track() {
    let entries = [("a:b/c@0.2.1", 1), ("a:b/c@0.2.7", 2), ("a:b/c@0.3.0", 3), ("a:b/d@0.0.1", 4)];
    assert_eq!(lookup(&entries, "a:b/c@0.2.1"), Some(("a:b/c@0.2.1", 1)));
    assert_eq!(lookup(&entries, "a:b/c@0.2.0"), Some(("a:b/c@0.2.7", 2)));
    assert_eq!(lookup(&entries, "a:b/c@0.2.9"), Some(("a:b/c@0.2.7", 2)));
    assert_eq!(lookup(&entries, "a:b/c@0.4.0"), None);
    assert_eq!(lookup(&entries, "a:b/d@0.0.2"), None, "0.0.x matches only exactly");
    assert_eq!(lookup(&entries, "a:b/c@0.2.1-rc.1"), None, "pre-releases match only exactly");
}

#[test]
fn the_safe_direction_is_an_older_import_and_a_newer_export() {
    assert_eq!(is_safe(Side::Import, "a:b/c@0.2.3", "a:b/c@0.2.0"), Some(true));
    assert_eq!(is_safe(Side::Import, "a:b/c@0.2.0", "a:b/c@0.2.3"), Some(false));
    assert_eq!(is_safe(Side::Export, "a:b/c@0.2.0", "a:b/c@0.2.3"), Some(true));
    assert_eq!(is_safe(Side::Export, "a:b/c@0.2.3", "a:b/c@0.2.0"), Some(false));
}

#[test]
fn near_misses_say_why_a_version_does_not_match() {
    let world = [("a:b/c@0.3.0-rc.2", ()), ("x:y/z@1.0.0", ())];
    assert_eq!(
        near_misses(&world, "a:b/c@0.3.0-rc.1", "the world"),
        " (the world has a:b/c@0.3.0-rc.2; pre-release versions match only exactly)"
    );
    assert_eq!(
        near_misses(&world, "x:y/z@2.0.0", "the world"),
        " (the world has x:y/z@1.0.0; the versions are on different semver tracks)"
    );
    assert_eq!(near_misses(&world, "q:r/s@1.0.0", "the world"), "");
}

#[test]
fn types_render_as_wit_by_name() {
    let target = wit(SHAPES).world(Some("app")).unwrap();
    let names = Names::collect(&target.types, &[target.world]);
    let render = Render::new(&target.types, &names);
    let ItemKind::Instance(shapes) = target.types[target.world].exports["acme:shapes/shapes@1.2.0"] else {
        panic!("shapes is not an instance");
    };
    let members: Vec<String> =
        target.types[shapes].exports.iter().map(|(name, kind)| render.member(name, *kind)).collect();
    let expected = [
        "record point { x: s32, y: s32 }",
        "variant shape { circle(f64), square(u32), nothing }",
        "enum color { red, green }",
        "flags style { bold, italic }",
        "type coords = list<point>",
        "resource canvas",
        "canvas: func(width: u32) -> canvas",
        "canvas.draw: func(self: borrow<canvas>, s: shape, at: option<point>) -> result<u32, string>",
        "canvas.from-file: func(path: string) -> canvas",
        "paint: func(c: borrow<canvas>, style: style, colors: tuple<color, color>) -> result",
        "sum: func(pts: list<point>) -> s64",
    ];
    assert_eq!(members, expected);
    assert_eq!(
        render.item(ItemKind::Instance(shapes)),
        "interface { record point { x: s32, y: s32 }; variant shape { circle(f64), square(u32), nothing }; \
         enum color { red, green }; and 8 more; }"
    );
}

#[test]
fn member_names_are_written_the_wit_way() {
    assert_eq!(function_segment("[method]blob.size").to_string(), "method `blob.size`");
    assert_eq!(function_segment("[constructor]blob").to_string(), "constructor of `blob`");
    assert_eq!(function_segment("[static]blob.open").to_string(), "static function `blob.open`");
    assert_eq!(function_segment("[async method]blob.read").to_string(), "method `blob.read`");
    assert_eq!(function_segment("check").to_string(), "function `check`");
    assert_eq!(function_segment("[static]blob.open").resource(), Some("blob"));
    assert_eq!(function_segment("[constructor]blob").resource(), Some("blob"));
    assert_eq!(function_segment("check").resource(), None);
}

const SUM_WAT: &str = r#"
(module
  (memory (export "memory") 1)
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) i32.const 1024)
  (func (export "acme:shapes/geo@0.1.0#sum") (param i32 i32) (result i64) i64.const 0)
)
"#;

fn geo(y: &str) -> String {
    format!(
        "package acme:shapes@0.1.0;\n\
         interface geo {{ record point {{ x: s32, y: {y} }} sum: func(pts: list<point>) -> s64; }}\n\
         world app {{ export geo; }}\n"
    )
}

#[test]
fn a_nested_mismatch_is_reported_with_its_whole_path() {
    let bytes = component(&geo("f32"), "app", SUM_WAT);
    let report = wit(&geo("s32")).world(None).unwrap().check("geo.wasm", bytes.clone()).unwrap();
    assert!(!report.fits);
    assert!(report.types_checked);
    let messages: Vec<&str> = report.problems.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(
        messages,
        ["type mismatch in export acme:shapes/geo@0.1.0, type `point`, field `y`: \
          the world expects `s32`, the component has `f32`"],
        "the record is reported once, where it is first met, not again under sum's parameter"
    );
    let problem = &report.problems[0];
    assert_eq!(problem.kind, ProblemKind::TypeMismatch);
    assert_eq!(problem.side, Side::Export);
    assert_eq!((problem.expected.as_deref(), problem.found.as_deref()), (Some("s32"), Some("f32")));
    let path: Vec<String> = problem.path.iter().map(ToString::to_string).collect();
    assert_eq!(path, ["type `point`", "field `y`"]);

    let same = wit(&geo("f32")).world(None).unwrap().check("geo.wasm", bytes.clone()).unwrap();
    assert!(same.fits, "{:?}", same.problems);
}

#[test]
fn worlds_are_chosen_by_plain_or_full_name_and_ambiguity_lists_them() {
    let shapes = wit(SHAPES);
    assert_eq!(shapes.worlds(), ["acme:shapes/app@1.2.0", "acme:shapes/other@1.2.0"]);
    assert_eq!(shapes.world(Some("other")).unwrap().name(), "acme:shapes/other@1.2.0");
    assert_eq!(shapes.world(Some("acme:shapes/app@1.2.0")).unwrap().name(), "acme:shapes/app@1.2.0");
    let Err(error) = shapes.world(None) else { panic!("two worlds and no choice must fail") };
    assert_eq!(error.kind(), crate::error::ErrorKind::Usage);
    assert!(error.to_string().contains("several worlds (acme:shapes/app@1.2.0, acme:shapes/other@1.2.0)"), "{error}");
    // The hint names `--world`: the command line's words, asserted in cli/src/hints.rs.
    let Err(error) = shapes.world(Some("nope")) else { panic!("an unknown world must fail") };
    assert!(error.to_string().contains("has no world \"nope\""), "{error}");
}

#[test]
fn unreadable_input_is_an_error_not_a_report() {
    let target = wit(SHAPES).world(Some("other")).unwrap();
    let core = wat::parse_str("(module)").unwrap();
    let error = target.check("core.wasm", core).unwrap_err();
    assert!(error.to_string().contains("core module, not a component"), "{error}");
    let error = target.check("junk.wasm", b"\0asm\x0d\0\x01\0\xff".to_vec()).unwrap_err();
    assert!(matches!(error, Error::InvalidWasm { .. }), "{error}");
    let error = Wit::from_wasm("x", &component(&geo("s32"), "app", SUM_WAT)).err().unwrap();
    assert!(error.to_string().contains("holds a component, not a WIT package"), "{error}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.wit"), "package a:b;\nworld w { export f: func(x: u33); }\n").unwrap();
    let error = Wit::load(dir.path()).err().unwrap();
    assert!(error.to_string().contains("bad.wit:2:"), "the parser's position is kept: {error}");
}

#[test]
fn names_alone_settle_missing_exports_and_foreign_imports() {
    let target = wit(SHAPES).world(Some("app")).unwrap();
    let report = target.check_names("ref", &["wasi:cli/environment@0.2.0".into()], &["f".into()]);
    assert!(!report.fits);
    assert!(!report.types_checked);
    let kinds: Vec<ProblemKind> = report.problems.iter().map(|p| p.kind).collect();
    assert_eq!(kinds, [ProblemKind::ImportNotAllowed, ProblemKind::MissingExport]);
    assert_eq!(
        report.problems[1].message,
        "missing export acme:shapes/shapes@1.2.0: the world requires this interface (`record point { x: s32, y: s32 }; \
         variant shape { circle(f64), square(u32), nothing }; enum color { red, green }; and 8 more`), \
         and the component does not export it"
    );
    let newer = target.check_names("ref", &[], &["acme:shapes/shapes@1.3.0".into()]);
    assert!(newer.fits, "{:?}", newer.problems);
    assert_eq!(newer.semver_matches.len(), 1);
    assert_eq!(newer.semver_matches[0].safe, Some(true));
    assert_eq!(newer.semver_matches[0].decided_by, SemverBasis::VersionOrder);
}

#[test]
fn names_alone_leave_an_older_export_or_a_newer_import_undecided() {
    let target = wit(SHAPES).world(Some("app")).unwrap();
    let older = target.check_names("ref", &[], &["acme:shapes/shapes@1.1.0".into()]);
    assert!(older.problems.is_empty(), "only the types can tell: {:?}", older.problems);
    assert_eq!(older.semver_matches.len(), 1);
    assert_eq!(older.semver_matches[0].safe, None);
    assert_eq!(older.semver_matches[0].decided_by, SemverBasis::Undecided);
    assert_eq!(
        older.semver_matches[0].message,
        "export acme:shapes/shapes@1.1.0 matched the world's acme:shapes/shapes@1.2.0: the component provides an \
         older version than the world requires; whether it has everything the world's version requires takes the \
         component's types, which the artifact's config does not list"
    );
}

/// The `demo:hello` package at `version`, its interface `greet` with `hello`
/// and, when `goodbye`, a second function.
fn hello_package(version: &str, goodbye: bool) -> String {
    let goodbye = if goodbye { "goodbye: func(x: u32) -> u32;" } else { "" };
    format!(
        "package demo:hello@{version};\n\
         interface greet {{ hello: func(x: u32) -> u32; {goodbye} }}\n\
         world greeter {{ export greet; }}\n"
    )
}

/// A component exporting `demo:hello/greet@{version}`'s `hello` (and `goodbye`).
fn greeter(version: &str, goodbye: bool) -> Vec<u8> {
    let extra = if goodbye {
        format!(r#"(func (export "demo:hello/greet@{version}#goodbye") (param i32) (result i32) local.get 0)"#)
    } else {
        String::new()
    };
    let wat = format!(
        r#"(module
             (memory (export "memory") 1)
             (func (export "demo:hello/greet@{version}#hello") (param i32) (result i32) local.get 0)
             {extra})"#
    );
    component(&hello_package(version, goodbye), "greeter", &wat)
}

#[test]
fn an_older_export_with_everything_the_world_requires_fits() {
    let target = wit(&hello_package("0.1.1", false)).world(None).unwrap();
    let report = target.check("greeter.wasm", greeter("0.1.0", false)).unwrap();
    assert!(report.fits, "{:?}", report.problems);
    let matched = &report.semver_matches[0];
    assert_eq!((matched.safe, matched.decided_by), (Some(true), SemverBasis::Types));
    assert_eq!(
        matched.message,
        "export demo:hello/greet@0.1.0 matched the world's demo:hello/greet@0.1.1: the component provides an older \
         version than the world requires, and it has every function, type and resource the world's version \
         requires, with compatible types, which is safe"
    );
}

#[test]
fn an_older_export_lacking_a_function_the_world_added_names_it() {
    let target = wit(&hello_package("0.1.2", true)).world(None).unwrap();
    let report = target.check("greeter.wasm", greeter("0.1.0", false)).unwrap();
    assert!(!report.fits);
    let kinds: Vec<ProblemKind> = report.problems.iter().map(|p| p.kind).collect();
    assert_eq!(kinds, [ProblemKind::VersionMismatch, ProblemKind::TypeMismatch]);
    assert_eq!(
        report.problems[1].message,
        "type mismatch in export demo:hello/greet@0.1.2, function `goodbye`: the component does not have it; \
         the world expects `goodbye: func(x: u32) -> u32`"
    );
    assert_eq!(report.semver_matches[0].safe, Some(false));
    // Built against the release that added it, the component fits.
    assert!(target.check("greeter.wasm", greeter("0.1.2", true)).unwrap().fits);
}

#[test]
fn a_newer_import_that_uses_only_what_the_world_provides_fits() {
    let store = |version: &str, set: bool| {
        let set = if set { "set: func(key: u32, value: u32);" } else { "" };
        format!(
            "package acme:kv@{version};\n\
             interface store {{ get: func(key: u32) -> u32; {set} }}\n\
             world user {{ import store; export run: func() -> u32; }}\n"
        )
    };
    let uses = |what: &str| {
        let set = if what == "set" { r#"(import "acme:kv/store@0.2.3" "set" (func (param i32 i32)))"# } else { "" };
        format!(
            r#"(module
                 (import "acme:kv/store@0.2.3" "get" (func (param i32) (result i32)))
                 {set}
                 (memory (export "memory") 1)
                 (func (export "run") (result i32) i32.const 0))"#
        )
    };
    let target = wit(&store("0.2.0", false)).world(None).unwrap();
    let only_get = component(&store("0.2.3", true), "user", &uses("get"));
    let report = target.check("user.wasm", only_get).unwrap();
    assert!(report.fits, "{:?}", report.problems);
    assert_eq!((report.semver_matches[0].safe, report.semver_matches[0].decided_by), (Some(true), SemverBasis::Types));
    assert!(report.semver_matches[0].message.contains("the world's version has everything the component imports"));

    let with_set = component(&store("0.2.3", true), "user", &uses("set"));
    let report = target.check("user.wasm", with_set).unwrap();
    let messages: Vec<&str> = report.problems.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages[0].starts_with("version mismatch: the component imports acme:kv/store@0.2.3"), "{messages:?}");
    assert_eq!(
        messages[1],
        "type mismatch in import acme:kv/store@0.2.3, function `set`: the world does not provide it; \
         the component expects `set: func(key: u32, value: u32)`"
    );
}

#[test]
fn a_wit_package_declaring_a_huge_section_is_refused_without_reading_it() {
    // A header and one section claiming 4 GiB (fuzz/seeds/wit_check/crash-huge-section.wasm):
    // validation refuses it before wit-parser would allocate the declared size.
    let mut bytes = b"\0asm\x0d\0\x01\0".to_vec();
    bytes.extend([0x07, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    match Wit::from_wasm("huge.wasm", &bytes) {
        Err(Error::InvalidWit { location, .. }) => assert_eq!(location, "huge.wasm"),
        other => panic!("{:?}", other.map(|w| w.package_name())),
    }
}

#[test]
fn a_wit_package_that_makes_wit_parser_panic_is_an_invalid_wit_error() {
    // Found by the wit_check fuzz target: valid Wasm on which wit-parser 0.258 panics.
    let bytes = include_bytes!("../../../../fuzz/seeds/wit_check/crash-wit-parser-panic.wasm");
    match Wit::from_wasm("crash.wasm", bytes) {
        Err(Error::InvalidWit { location, .. }) => assert_eq!(location, "crash.wasm"),
        other => panic!("{:?}", other.map(|w| w.package_name())),
    }
}

#[test]
fn a_world_that_makes_wit_component_panic_is_an_invalid_wit_error() {
    // Found by the wit_check fuzz target: a package wit-parser decodes but
    // wit-component 0.258 panics encoding (encoding/wit.rs:385).
    let bytes = include_bytes!("../../../../fuzz/seeds/wit_check/crash-wit-component-encode-panic.wasm");
    let wit = Wit::from_wasm("crash.wasm", bytes).unwrap();
    let outcomes: Vec<Result<World>> = wit.worlds().iter().map(|w| wit.world(Some(w))).collect();
    assert!(outcomes.iter().any(|o| matches!(o, Err(Error::InvalidWit { .. }))));
    assert!(outcomes.iter().all(|o| matches!(o, Ok(_) | Err(Error::InvalidWit { .. }))));
}
