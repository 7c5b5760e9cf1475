package trainer

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Text from the box (phase, file names, remote stderr, log bytes) is shown escaped, so that a
// hostile or broken box cannot drive the terminal: C0 controls and DEL as \xNN (carriage return as
// \r), C1 controls (U+0080-U+009F, which some terminals obey as ESC sequences) as \u0080, bytes
// that are not UTF-8 as \xNN, and the bidirectional overrides that reorder what is shown as \u202e.

// Escape returns s with every control character escaped, newline and tab included: for one-line
// values such as a phase or a file name.
func Escape(s string) string { return escape(s, false) }

// EscapeText returns s escaped like Escape, but keeping newlines and tabs: for multi-line text such
// as a remote command's stderr.
func EscapeText(s string) string { return escape(s, true) }

func escape(s string, keepLines bool) string {
	if isPlain(s, keepLines) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		appendEscaped(&b, s[i:i+n], r, keepLines)
		i += n
	}
	return b.String()
}

func isPlain(s string, keepLines bool) bool {
	for _, r := range s {
		if needsEscape(r, keepLines) {
			return false
		}
	}
	return true
}

func needsEscape(r rune, keepLines bool) bool {
	switch {
	case r == '\n' || r == '\t':
		return !keepLines
	case r < 0x20 || r == 0x7f:
		return true
	case r >= 0x80 && r <= 0x9f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	case r == utf8.RuneError:
		return true // an invalid byte, or U+FFFD itself, which cannot be told apart cheaply
	}
	return false
}

// appendEscaped writes one decoded rune r (raw: its bytes in the input).
func appendEscaped(b *strings.Builder, raw string, r rune, keepLines bool) {
	switch {
	case r == utf8.RuneError && len(raw) == 1:
		fmt.Fprintf(b, `\x%02x`, raw[0])
	case !needsEscape(r, keepLines) || r == utf8.RuneError:
		b.WriteString(raw)
	case r == '\r':
		b.WriteString(`\r`)
	case r == '\n':
		b.WriteString(`\n`)
	case r == '\t':
		b.WriteString(`\t`)
	case r < 0x80:
		fmt.Fprintf(b, `\x%02x`, r)
	default:
		fmt.Fprintf(b, `\u%04x`, r)
	}
}

// EscapeWriter escapes a byte stream like EscapeText as it is written, holding back the bytes of a
// character split across two writes. Flush writes what is held back (escaped) at the end.
type EscapeWriter struct {
	w       io.Writer
	pending []byte
}

// NewEscapeWriter returns an EscapeWriter writing to w.
func NewEscapeWriter(w io.Writer) *EscapeWriter { return &EscapeWriter{w: w} }

// Write escapes p and writes it; it reports len(p) on success.
func (e *EscapeWriter) Write(p []byte) (int, error) {
	data := append(e.pending, p...)
	e.pending = nil
	// hold back an incomplete UTF-8 sequence at the end
	cut := len(data)
	for k := 1; k <= utf8.UTFMax-1 && k <= len(data); k++ {
		c := data[len(data)-k]
		if c < 0x80 {
			break
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(data[len(data)-k:]) {
				cut = len(data) - k
			}
			break
		}
	}
	if cut < len(data) {
		e.pending = append([]byte{}, data[cut:]...)
	}
	if _, err := io.WriteString(e.w, escape(string(data[:cut]), true)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes any held-back bytes, escaped.
func (e *EscapeWriter) Flush() error {
	if len(e.pending) == 0 {
		return nil
	}
	s := escape(string(e.pending), true)
	e.pending = nil
	_, err := io.WriteString(e.w, s)
	return err
}
