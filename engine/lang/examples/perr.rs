fn main() {
    let src = std::fs::read_to_string(std::env::args().nth(1).unwrap()).unwrap();
    match krl_lang::syntax::parse_ruleset(&src) {
        Ok(_) => println!("ok"),
        Err(d) => print!("{}", d.render("x", &src)),
    }
}
