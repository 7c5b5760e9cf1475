// Package edits finds what changed between an awkward text and its correction, as typed edits on
// ERRANT's labels, reads and writes them as M2, scores them against gold M2 annotations, and checks
// an LLM's claimed correction points against them.
//
// It follows ERRANT (Bryant et al., 2017): tokens are aligned with a Damerau-Levenshtein alignment
// whose substitution cost falls with shared lemma, word class and characters, adjacent changes are
// merged or split by ERRANT's rules, and each edit is typed. Where ERRANT uses spaCy's tagger and
// parser, this package uses closed word lists, an irregular-forms list and suffix rules, so it needs
// no model and aligns a sentence pair in microseconds.
package edits
