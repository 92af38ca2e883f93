//! Cutting long documents into pieces, before splitting.
//!
//! The corpus has 18 books of 0.04–4.3 MB beside ~230 speeches of ~45 KB. Split by whole book, held-out and
//! calibration (5% each, ~1.1 MB) would get one or two books, or none; so a document longer than
//! `2 × piece_bytes` is cut into pieces of about `piece_bytes` and each piece is a document for splitting.
//! Pieces end at a paragraph break (`\n\n`) when one lies within half a piece after the target length, else at
//! a line break, else at a character boundary; a tail shorter than half a piece joins the previous piece.
//! Concatenating the pieces gives the document back exactly. Piece ids are `{id}#{k:03}`.
//!
//! Disjointness holds by piece: a piece is in one split only. Pieces of one book can land in different splits,
//! so held-out text shares style and names with training text, but never a sentence.
//!
//! ```
//! use p2law_data::source::{chunk::chunk, Document};
//! let text = "para one.\n\npara two.\n\npara three.\n\npara four.".to_string();
//! let pieces = chunk(Document { id: "book".into(), text: text.clone() }, 10);
//! assert_eq!(pieces.len(), 4);
//! assert_eq!((pieces[0].id.as_str(), pieces[0].text.as_str()), ("book#000", "para one.\n\n"));
//! assert_eq!(pieces.iter().map(|p| p.text.as_str()).collect::<String>(), text);
//! ```

use super::Document;

/// Cuts `doc` into pieces of about `piece_bytes` when it is longer than twice that; else returns it whole.
pub fn chunk(doc: Document, piece_bytes: usize) -> Vec<Document> {
    let piece_bytes = piece_bytes.max(1);
    let text = doc.text.as_str();
    if text.len() <= 2 * piece_bytes {
        return vec![doc];
    }
    let mut cuts = Vec::new();
    let mut start = 0;
    while text.len() - start > piece_bytes + piece_bytes / 2 {
        let end = cut_after(text, start + piece_bytes, piece_bytes / 2);
        cuts.push((start, end));
        start = end;
    }
    cuts.push((start, text.len()));
    cuts.iter()
        .enumerate()
        .map(|(k, &(a, b))| Document { id: format!("{}#{k:03}", doc.id), text: text[a..b].to_string() })
        .collect()
}

/// The end of a piece: just after the first paragraph break at or after `target` within `slack` bytes, else
/// after the first line break there, else the first character boundary at `target`.
fn cut_after(text: &str, target: usize, slack: usize) -> usize {
    let window_end = floor_boundary(text, (target + slack).min(text.len()));
    let target = floor_boundary(text, target);
    // Start one byte early so a break straddling the target is found.
    let early = floor_boundary(text, target.saturating_sub(1));
    if let Some(i) = text[early..window_end].find("\n\n") {
        return early + i + 2;
    }
    let window = &text[target..window_end];
    if let Some(i) = window.find('\n') {
        return target + i + 1;
    }
    // No break nearby (one huge line): cut mid-line, at a character boundary.
    if target == 0 {
        ceil_boundary(text, 1)
    } else {
        target
    }
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Document {
        Document { id: "d".into(), text: text.into() }
    }

    #[test]
    fn short_documents_stay_whole() {
        let pieces = chunk(doc("abc\n\ndef"), 100);
        assert_eq!(pieces, vec![doc("abc\n\ndef")]);
    }

    #[test]
    fn pieces_end_at_paragraphs_and_rebuild_the_text() {
        let para = "word ".repeat(19) + "end.\n\n"; // 105 bytes
        let text = para.repeat(40);
        let pieces = chunk(doc(&text), 1000);
        assert_eq!(pieces.iter().map(|p| p.text.as_str()).collect::<String>(), text);
        for p in &pieces[..pieces.len() - 1] {
            assert!(p.text.ends_with("\n\n"), "{:?}", &p.text[p.text.len() - 10..]);
            assert!((1000..1000 + 600).contains(&p.text.len()), "{}", p.text.len());
        }
        assert!(pieces.last().unwrap().text.len() >= 500);
        assert_eq!(pieces.iter().map(|p| p.id.as_str()).collect::<Vec<_>>()[..2], ["d#000", "d#001"]);
    }

    #[test]
    fn one_long_line_of_multibyte_text_cuts_at_char_boundaries() {
        let text = "é".repeat(5000); // 10_000 bytes, no breaks
        let pieces = chunk(doc(&text), 999);
        assert!(pieces.len() >= 6);
        assert_eq!(pieces.iter().map(|p| p.text.as_str()).collect::<String>(), text);
    }
}
