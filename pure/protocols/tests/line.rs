//! The line discipline: key decoding from terminal bytes and line editing.
#![cfg(not(loom))]

use protocols::line::{Event, Key, KeyDecoder, LineEditor};

fn keys(bytes: &[u8]) -> Vec<Key> {
    let mut d = KeyDecoder::new();
    bytes.iter().filter_map(|&b| d.feed(b)).collect()
}

/// Feeds `bytes` through a decoder and editor; returns the events and the
/// echo.
fn type_bytes(ed: &mut LineEditor, bytes: &[u8]) -> (Vec<Event>, String) {
    let mut echo = String::new();
    let events = keys(bytes).into_iter().filter_map(|k| ed.feed(k, &mut echo)).collect();
    (events, echo)
}

fn line(s: &str) -> Event {
    Event::Line(s.into())
}

#[test]
fn decodes_line_ends_controls_and_utf8() {
    assert_eq!(keys(b"a\r\nb\rc\n"), [Key::Char('a'), Key::Enter, Key::Char('b'), Key::Enter, Key::Char('c'), Key::Enter]);
    assert_eq!(keys(b"\x7f\x08\x03"), [Key::Backspace, Key::Backspace, Key::Interrupt]);
    assert_eq!(
        keys("w\u{f6}r\u{20ac}\u{1f980}".as_bytes()),
        [Key::Char('w'), Key::Char('\u{f6}'), Key::Char('r'), Key::Char('\u{20ac}'), Key::Char('\u{1f980}')]
    );
    assert_eq!(keys(b"\x00\x07\x1f"), []);
}

#[test]
fn decodes_cursor_keys_and_drops_unknown_escapes() {
    assert_eq!(
        keys(b"\x1b[A\x1b[B\x1b[C\x1b[D\x1bOH\x1b[F\x1b[3~"),
        [Key::Up, Key::Down, Key::Right, Key::Left, Key::Home, Key::End, Key::Delete]
    );
    // Unknown CSI sequences (with parameters) and ESC + letter vanish whole.
    assert_eq!(keys(b"\x1b[2J\x1b[1;5Hx\x1bqy\x1b[38;5;200mz"), [Key::Char('x'), Key::Char('y'), Key::Char('z')]);
    // An endless CSI is cut off rather than swallowing everything after it.
    let mut long = b"\x1b[".to_vec();
    long.extend(std::iter::repeat_n(b'1', 100));
    long.push(b'k');
    assert!(keys(&long).contains(&Key::Char('k')));
}

#[test]
fn invalid_utf8_becomes_replacement_characters() {
    let k = keys(b"\xff\xc3\x28\xe2\x82");
    assert_eq!(k[0], Key::Char(char::REPLACEMENT_CHARACTER));
    assert!(k.contains(&Key::Char('(')), "the byte after a broken sequence survives: {k:?}");
    let mut ed = LineEditor::new(64, 8);
    let (events, _) = type_bytes(&mut ed, b"\xffa\xc3\n");
    assert!(matches!(&events[..], [Event::Line(l)] if l.contains('a')));
}

#[test]
fn random_bytes_never_panic() {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut ed = LineEditor::new(80, 16);
    let mut dec = KeyDecoder::new();
    let mut echo = String::new();
    for _ in 0..200_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if let Some(k) = dec.feed(x as u8) {
            ed.feed(k, &mut echo);
        }
        assert!(ed.cursor() <= ed.line().chars().count());
        assert!(ed.line().chars().count() <= 80);
        echo.clear();
    }
}

#[test]
fn editing_backspace_left_right_insert_delete() {
    let mut ed = LineEditor::new(64, 8);
    let (ev, echo) = type_bytes(&mut ed, b"helo\x1b[Dl\x1b[C!\x7f?\n");
    assert_eq!(ev, [line("hello?")]);
    assert!(echo.starts_with("helo"), "{echo:?}");
    assert!(echo.ends_with('\n'));
    let (ev, _) = type_bytes(&mut ed, b"abc\x1b[H\x1b[3~X\x1b[F\n");
    assert_eq!(ev, [line("Xbc")]);
    // Backspace over a multi-byte character erases it whole.
    let (ev, _) = type_bytes(&mut ed, "x\u{e9}\x08y\n".as_bytes());
    assert_eq!(ev, [line("xy")]);
}

#[test]
fn echo_redraws_relative_to_the_cursor() {
    let mut ed = LineEditor::new(64, 8);
    let mut echo = String::new();
    for k in [Key::Char('a'), Key::Char('c'), Key::Left, Key::Char('b')] {
        ed.feed(k, &mut echo);
    }
    // Typing 'b' before 'c' rewrites "bc" and steps back over "c".
    assert_eq!(echo, "ac\x1b[Dbc\x1b[1D");
    echo.clear();
    ed.feed(Key::Backspace, &mut echo);
    assert_eq!(echo, "\x08c \x1b[2D");
}

#[test]
fn history_up_down_and_stash() {
    let mut ed = LineEditor::new(64, 2);
    type_bytes(&mut ed, b"one\ntwo\ntwo\n  \nthree\n");
    assert_eq!(ed.history().collect::<Vec<_>>(), ["two", "three"], "bounded, no repeats, no blanks");
    let (ev, _) = type_bytes(&mut ed, b"new\x1b[A\x1b[A\x1b[A\n");
    assert_eq!(ev, [line("two")]);
    let (ev, _) = type_bytes(&mut ed, b"draft\x1b[A\x1b[B\n");
    assert_eq!(ev, [line("draft")], "down past the newest entry restores the draft");
    let (ev, echo) = type_bytes(&mut ed, b"\x1b[A!\n");
    assert_eq!(ev, [line("draft!")]);
    assert!(echo.contains("\x1b[K"), "a recalled line clears the rest of the old one");
}

#[test]
fn ctrl_c_abandons_the_line_and_long_lines_stop_growing() {
    let mut ed = LineEditor::new(5, 8);
    let (ev, echo) = type_bytes(&mut ed, b"abc\x03");
    assert_eq!(ev, [Event::Interrupt]);
    assert!(echo.ends_with("^C\n"));
    assert_eq!(ed.line(), "");
    let (ev, _) = type_bytes(&mut ed, b"abcdefghij\n");
    assert_eq!(ev, [line("abcde")]);
}
