//! Gives the `tfdiff` binary an rpath to the libpython pyo3 links against, so it runs without
//! LD_LIBRARY_PATH on machines where that library is not in the loader's default path (pyenv,
//! conda and most non-system Pythons), and exports its `malloc_trim`.

fn main() {
    let config = pyo3_build_config::get();
    if let Some(lib_dir) = config.lib_dir() {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib_dir}");
    }
    // Recorded so `tfdiff doctor` can say which interpreter the binary was built against.
    if let Some(executable) = config.executable() {
        println!("cargo:rustc-env=TFDIFF_BUILD_PYTHON={executable}");
    }
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    // The binary's own malloc_trim (see src/freed_memory.rs) must be in its dynamic symbol table
    // for the loader to bind the Python extensions' calls to it.
    println!("cargo:rustc-link-arg-bins=-Wl,--export-dynamic-symbol=malloc_trim");
}
