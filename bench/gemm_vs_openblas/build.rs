// Links the system OpenBLAS (Debian's libopenblas-dev, installed by run.sh).
fn main() {
    println!("cargo:rustc-link-search=native=/usr/lib/x86_64-linux-gnu/openblas-pthread");
    println!("cargo:rustc-link-lib=dylib=openblas");
}
