package edits_test

import (
	"fmt"
	"os"

	"github.com/correctly/correctly/edits"
)

func ExampleExtract() {
	for _, e := range edits.Extract("He say he like apple.", "He says he likes apples.") {
		fmt.Printf("%s %d:%d %q -> %q\n", e.Type, e.OStart, e.OEnd, e.O, e.C)
	}
	// Output:
	// R:VERB:SVA 1:2 "say" -> "says"
	// R:VERB:SVA 3:4 "like" -> "likes"
	// R:NOUN:NUM 4:5 "apple" -> "apples"
}

func ExampleCheckClaims() {
	before, after := "He go to school yesterday.", "He went to school yesterday."
	claims := edits.ParseClaims([]string{
		`1. "He go" → "He went": 과거 시제`,
		`2. "to school" → "to school": 자연스럽게`,
	})
	check := edits.CheckClaims(before, after, claims, edits.Extract(before, after))
	for _, c := range check.Unmatched {
		fmt.Printf("claim_without_edit: %d %q\n", c.Line, c.Before)
	}
	fmt.Printf("coverage %.2f\n", check.Coverage)
	// Output:
	// claim_without_edit: 2 "to school"
	// coverage 1.00
}

func ExampleWriteM2() {
	orig, cor := edits.Tokenize("I has a apple."), edits.Tokenize("I have an apple.")
	if err := edits.WriteM2(os.Stdout, orig, edits.ExtractTokens(orig, cor)); err != nil {
		fmt.Println(err)
	}
	// Output:
	// S I has a apple .
	// A 1 2|||R:VERB:SVA|||have|||REQUIRED|||-NONE-|||0
	// A 2 3|||R:DET|||an|||REQUIRED|||-NONE-|||0
}
