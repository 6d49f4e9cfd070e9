//! Subject patterns (`SubjectPattern::new` / `matches`) and the subjects of arbitrary events
//! (`subject_of`): input is `pattern\nsubject` or `pattern\n{event JSON}`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use marketprism_core::{
    model::MarketEvent,
    subject::{SubjectPattern, subject_of},
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (pattern, rest) = text.split_once('\n').unwrap_or((text, ""));
    let parsed = SubjectPattern::new(pattern);
    if let Ok(p) = &parsed {
        let _ = p.matches(rest);
        // A literal pattern matches exactly itself.
        if p.is_literal() {
            assert!(
                p.matches(pattern),
                "literal {pattern:?} does not match itself"
            );
        }
        assert_eq!(p.as_str().parse::<SubjectPattern>().ok().as_ref(), Some(p));
    }
    if let Ok(event) = serde_json::from_str::<MarketEvent>(rest) {
        let subject = subject_of(&event);
        // Every event's subject is four non-empty tokens, a valid literal pattern.
        assert_eq!(subject.split('.').count(), 4, "subject {subject:?}");
        let literal = SubjectPattern::new(&subject)
            .unwrap_or_else(|e| panic!("subject {subject:?} is no pattern: {e}"));
        assert!(literal.matches(&subject));
        let tail = format!("{}.>", subject.split('.').next().unwrap_or_default());
        assert!(SubjectPattern::new(&tail).is_ok_and(|p| p.matches(&subject)));
    }
});
