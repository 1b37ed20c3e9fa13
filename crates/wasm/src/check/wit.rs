//! WIT packages: loaded from a directory, a `.wit` file or a binary package, and
//! the world to check against chosen from one ([`Wit::world`]).

use std::path::Path;

use wac_types::{ItemKind, Package, Type, Types, WorldId};
use wit_parser::{PackageId, Resolve};

use crate::error::{Error, Result};
use crate::guard::guarded;

/// A loaded WIT package: the package itself and its dependencies.
pub struct Wit {
    resolve: Resolve,
    package: PackageId,
    location: String,
}

impl Wit {
    /// Loads WIT from `path`: a directory of `.wit` files (dependencies in
    /// `deps/`), a single `.wit` file, or a binary WIT package (`.wasm`).
    pub fn load(path: &Path) -> Result<Wit> {
        let location = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| Error::io("cannot read", path, e))?;
        if meta.is_file() {
            let bytes = std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
            if bytes.starts_with(b"\0asm") {
                return Wit::from_wasm(&location, &bytes);
            }
        }
        let mut resolve = Resolve::default();
        let (package, _sources) = resolve
            .push_path(path)
            .map_err(|e| Error::InvalidWit { location: location.clone(), reason: resolve.render_error(&e) })?;
        Ok(Wit { resolve, package, location })
    }

    /// Reads a binary WIT package (for example one pulled from a registry);
    /// `location` names it in messages.
    pub fn from_wasm(location: &str, bytes: &[u8]) -> Result<Wit> {
        // Validate first: wit-parser's decoder preallocates each section's
        // declared size, so a few bytes declaring a 4 GiB section would
        // allocate 4 GiB before finding the input short.
        crate::inspect::validate(location, bytes)
            .map_err(|e| Error::InvalidWit { location: location.to_string(), reason: e.to_string() })?;
        // wit-parser panics on some valid but inconsistent packages.
        match guarded(&format!("the types of {location}"), || wit_component::decode(bytes)) {
            Ok(wit_component::DecodedWasm::WitPackage(resolve, package)) => {
                Ok(Wit { resolve, package, location: location.to_string() })
            }
            Ok(wit_component::DecodedWasm::Component(..)) => Err(Error::InvalidWit {
                location: location.to_string(),
                reason: "it holds a component, not a WIT package".into(),
            }),
            Err(reason) => Err(Error::InvalidWit { location: location.to_string(), reason }),
        }
    }

    /// The package name, `ns:pkg@version`.
    pub fn package_name(&self) -> String {
        self.resolve.packages[self.package].name.to_string()
    }

    /// The worlds the package defines, as `ns:pkg/world@version`.
    pub fn worlds(&self) -> Vec<String> {
        self.resolve.packages[self.package]
            .worlds
            .keys()
            .map(|name| self.resolve.id_of_name(self.package, name))
            .collect()
    }

    /// Chooses the world to check against: `world` (a plain name of one of
    /// the package's worlds, or `ns:pkg/world[@version]` of any loaded
    /// package), or the package's only world when `world` is `None`.
    pub fn world(&self, world: Option<&str>) -> Result<World> {
        let world_id = self.select_world(world)?;
        let world = &self.resolve.worlds[world_id];
        let package = world.package.ok_or_else(|| self.selection_error(Some(&world.name)))?;
        let name = self.resolve.id_of_name(package, &world.name);
        // wit-component panics on some packages wit-parser decoded.
        let types_of = format!("the types of {}", self.location);
        let bytes = guarded(&types_of, || wit_component::encode(&self.resolve, package))
            .map_err(|reason| Error::InvalidWit { location: self.location.clone(), reason })?;
        let mut types = Types::default();
        let encoded = guarded(&types_of, || Package::from_bytes("wit", None, bytes, &mut types))
            .map_err(|reason| Error::InvalidWit { location: self.location.clone(), reason })?;
        let world = wit_world(&types, encoded.ty(), &world.name).ok_or_else(|| Error::InvalidWit {
            location: self.location.clone(),
            reason: format!("the world {name} did not survive encoding (please report this)"),
        })?;
        Ok(World { types, world, name })
    }

    fn select_world(&self, world: Option<&str>) -> Result<wit_parser::WorldId> {
        let worlds = &self.resolve.packages[self.package].worlds;
        let found = match world {
            None if worlds.len() == 1 => worlds.values().next().copied(),
            None => None,
            Some(name) if !name.contains(':') => worlds.get(name).copied(),
            Some(name) => self.resolve.select_world(&[self.package], Some(name)).ok(),
        };
        found.ok_or_else(|| self.selection_error(world))
    }

    fn selection_error(&self, requested: Option<&str>) -> Error {
        Error::WorldSelection {
            package: self.package_name(),
            requested: requested.map(str::to_string),
            available: self.worlds(),
        }
    }
}

/// The world a WIT package encodes under the plain name `world`: the package
/// component exports it as a type whose only export is the world's component type.
fn wit_world(types: &Types, package: WorldId, world: &str) -> Option<WorldId> {
    let ItemKind::Type(Type::World(wrapper)) = types[package].exports.get(world)? else {
        return None;
    };
    match types[*wrapper].exports.values().next()? {
        ItemKind::Component(id) => Some(*id),
        _ => None,
    }
}

/// A world, ready to check components against.
pub struct World {
    pub(super) types: Types,
    pub(super) world: WorldId,
    pub(super) name: String,
}

impl World {
    /// The world's name, `ns:pkg/world@version`.
    pub fn name(&self) -> &str {
        &self.name
    }
}
