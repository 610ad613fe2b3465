use crate::command::Command;
use crate::parse::parse_command;
use crate::types::FetchAtt;

fn atts(line: &str) -> Result<Vec<FetchAtt>, String> {
    match parse_command(line.as_bytes()) {
        Ok((_, Command::Fetch { atts, .. })) => Ok(atts),
        Ok((_, other)) => panic!("{line}: {other:?}"),
        Err(e) => Err(e.message),
    }
}

#[test]
fn binary_attributes() {
    assert_eq!(
        atts("a1 FETCH 1 (binary[1.2] Binary.Peek[]<0.10> BINARY.SIZE[3])"),
        Ok(vec![
            FetchAtt::Binary {
                peek: false,
                parts: vec![1, 2],
                partial: None
            },
            FetchAtt::Binary {
                peek: true,
                parts: vec![],
                partial: Some((0, 10))
            },
            FetchAtt::BinarySize(vec![3]),
        ])
    );
    assert_eq!(
        atts("a1 FETCH 1 BINARY.SIZE[]"),
        Ok(vec![FetchAtt::BinarySize(vec![])])
    );
}

#[test]
fn binary_sections_are_part_numbers_only() {
    for bad in [
        "a1 FETCH 1 BINARY[1.MIME]",
        "a1 FETCH 1 BINARY[HEADER]",
        "a1 FETCH 1 BINARY[0]",
        "a1 FETCH 1 BINARY[1.]",
        "a1 FETCH 1 BINARY",
        "a1 FETCH 1 BINARY.SIZE[1]<0.5>",
        "a1 FETCH 1 BINARY[1]<0.0>",
    ] {
        assert!(atts(bad).is_err(), "{bad}");
    }
}
