//! `wharf generate`

use std::io::Write;

use clap::{CommandFactory, ValueEnum};
use clap_complete::Shell;

use crate::Verdict;
use crate::args::Format;
use crate::output::{Failure, OrFail};

/// Generate wharf's man page or a shell's completions, from the same definitions the command line
/// parses with.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  wharf generate man > wharf.1 && man ./wharf.1
  wharf generate complete-bash > ~/.local/share/bash-completion/completions/wharf
  wharf generate complete-zsh > ~/.zfunc/_wharf
  wharf generate complete-fish > ~/.config/fish/completions/wharf.fish

Exit status: 0 written; 2 the output could not be written.")]
pub struct Args {
    /// What to write on stdout.
    #[arg(value_enum)]
    what: What,
}

/// What `wharf generate` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum What {
    /// The man page (roff): every command and flag.
    Man,
    /// bash completions.
    CompleteBash,
    /// zsh completions.
    CompleteZsh,
    /// fish completions.
    CompleteFish,
}

/// Writes `what` for the whole command line into `out`.
pub fn generate(what: What, out: &mut dyn Write) -> std::io::Result<()> {
    let mut command = crate::Cli::command();
    command.build();
    let shell = match what {
        What::Man => return man(&command, out),
        What::CompleteBash => Shell::Bash,
        What::CompleteZsh => Shell::Zsh,
        What::CompleteFish => Shell::Fish,
    };
    clap_complete::generate(shell, &mut command, "wharf", out);
    Ok(())
}

/// The man page: wharf's, then each command's (its synopsis, description, flags and
/// examples) in the same file, so one page holds every command and flag.
fn man(command: &clap::Command, out: &mut dyn Write) -> std::io::Result<()> {
    clap_mangen::Man::new(command.clone()).render(out)?;
    for sub in command.get_subcommands() {
        let page = clap_mangen::Man::new(sub.clone()).title(format!("wharf-{}", sub.get_name()));
        page.source(concat!("wharf ", env!("CARGO_PKG_VERSION"))).render(out)?;
    }
    Ok(())
}

/// Runs the command.
pub async fn run(args: Args) -> Result<Verdict, Failure> {
    let mut out = std::io::stdout().lock();
    match generate(args.what, &mut out).and_then(|()| out.flush()) {
        Ok(()) => Ok(Verdict::Pass),
        // A closed pipe (`| head`) is the reader's choice, not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Verdict::Pass),
        Err(e) => Err(wharf::Error::io("cannot write to", "standard output", e)).or_fail(Format::Text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every output is produced, and names every subcommand.
    #[test]
    fn each_output_names_every_subcommand() {
        let command = crate::Cli::command();
        let names: Vec<String> = command.get_subcommands().map(|c| c.get_name().to_string()).collect();
        assert!(names.len() > 10 && names.contains(&"generate".to_string()), "{names:?}");
        for what in What::value_variants() {
            let mut out = Vec::new();
            generate(*what, &mut out).unwrap_or_else(|e| panic!("{what:?}: {e}"));
            let text = String::from_utf8(out).unwrap_or_else(|e| panic!("{what:?} is not UTF-8: {e}"));
            for name in &names {
                // roff writes a hyphen as `\-`.
                let named = text.contains(name.as_str()) || text.contains(&name.replace('-', "\\-"));
                assert!(named, "{what:?} does not name {name}");
            }
        }
    }
}
