package trainer

import (
	"bytes"
	"testing"
)

func TestEscapeWriterShowsControlCharactersEscaped(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain line\n", "plain line\n"},
		{"tab\there\n", "tab\there\n"},
		{"bar\r50%\r", `bar\r50%\r`},
		{"\x1b[2J\x07", `\x1b[2J\x07`},
		{"한국어 ok\x7f", `한국어 ok\x7f`},
		{"c1 \u009b31m and \u0085", `c1 \u009b31m and \u0085`},
		{"raw c1 \x9b31m", `raw c1 \x9b31m`},
		{"bidi \u202egnp.exe", `bidi \u202egnp.exe`},
		{"not utf-8 \xff\xfe", `not utf-8 \xff\xfe`},
		{"replacement \ufffd stays", "replacement \ufffd stays"},
	} {
		var b bytes.Buffer
		w := NewEscapeWriter(&b)
		n, err := w.Write([]byte(tc.in))
		if ferr := w.Flush(); err == nil {
			err = ferr
		}
		if err != nil || n != len(tc.in) || b.String() != tc.want {
			t.Errorf("escape(%q) = %q, %d, %v; want %q", tc.in, b.String(), n, err, tc.want)
		}
	}
}

func TestEscapeWriterKeepsACharacterSplitAcrossWrites(t *testing.T) {
	in := []byte("가 \u009b 나")
	var b bytes.Buffer
	w := NewEscapeWriter(&b)
	for i := range in { // one byte at a time: every multi-byte character is split
		if _, err := w.Write(in[i : i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if want := `가 \u009b 나`; b.String() != want {
		t.Errorf("byte-by-byte escape = %q, want %q", b.String(), want)
	}
}

func TestEscapeEscapesNewlinesOnlyInOneLineValues(t *testing.T) {
	if got := Escape("running\n\x1b]0;pwned\x07"); got != `running\n\x1b]0;pwned\x07` {
		t.Errorf("Escape = %q", got)
	}
	if got := EscapeText("line 1\nline\t2\x1b"); got != "line 1\nline\t2\\x1b" {
		t.Errorf("EscapeText = %q", got)
	}
}
