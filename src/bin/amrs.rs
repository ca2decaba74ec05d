//! The multi-call binary: dispatches on the name it was started as (`amgetconf`, …),
//! or on its first argument (`amrs amgetconf …`); `amrs install-links DIR` creates the
//! links under the tools' Amanda names.

fn main() {
    std::process::exit(amrs::cli::dispatch(std::env::args().collect()));
}
