package edits

import "testing"

// benchPairs are learner-style sentence pairs of typical length (15-30 tokens, one to four edits).
var benchPairs = [][2]string{
	{"I have a friend who likes a girl but he don't know how to talk to her.", "I have a friend who likes a girl, but he doesn't know how to talk to her."},
	{"He say he is very nervous because he think she is pretty.", "He says he is very nervous because he thinks she is pretty."},
	{"Today, I go to school and I very happy with my friends.", "Today, I went to school and I was very happy with my friends."},
	{"My friend, he is always make joke, and we laugh a lot in the class.", "My friend always makes jokes, and we laugh a lot in class."},
	{"Yesterday I visit my grandmother and she cook a delicious food for us.", "Yesterday I visited my grandmother and she cooked delicious food for us."},
	{"In my opinion, the public transport will be more important in the future.", "In my opinion, public transport will be more important in the future."},
	{"I am interesting in learning English because I want to travel abroad.", "I am interested in learning English because I want to travel abroad."},
	{"There are many peoples in the street and the traffic is very terrible.", "There are many people in the street and the traffic is terrible."},
	{"She suggested me to study harder, but I didn't listened to her advice.", "She suggested that I study harder, but I didn't listen to her advice."},
	{"When I was child, I used to play soccer with my brother every weekends.", "When I was a child, I used to play soccer with my brother every weekend."},
	{"I recieve your letter last week and I was very glad to hear from you.", "I received your letter last week and I was very glad to hear from you."},
	{"The movie was so bored that I fell asleep in the middle of it.", "The movie was so boring that I fell asleep in the middle of it."},
	{"We discussed about the problem for two hours but we could not find answer.", "We discussed the problem for two hours, but we could not find an answer."},
	{"If I will have time tomorrow, I will call you and we can meet at the cafe.", "If I have time tomorrow, I will call you and we can meet at the cafe."},
	{"My father works in a hospital since ten years and he loves his job.", "My father has worked in a hospital for ten years and he loves his job."},
	{"It was the most happiest day of my life, I will never forget it.", "It was the happiest day of my life. I will never forget it."},
}

// BenchmarkExtract measures Extract (tokenising both sides, aligning, merging and typing) per
// sentence pair; run with -cpu 1 for the per-core rate. It reports pairs/s of wall time and
// pairs/cpu-s, pairs per second of the process's CPU time, which stays put on a busy machine.
// The goal is 100,000 pairs/s per core.
func BenchmarkExtract(b *testing.B) {
	inDict("warm") // loads the embedded word list outside the timing
	n := 0
	cpu0 := cpuSeconds()
	for b.Loop() {
		p := benchPairs[n%len(benchPairs)]
		Extract(p[0], p[1])
		n++
	}
	reportRates(b, n, cpu0)
}

func reportRates(b *testing.B, n int, cpu0 float64) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "pairs/s")
	if cpu := cpuSeconds() - cpu0; cpu > 0 {
		b.ReportMetric(float64(n)/cpu, "pairs/cpu-s")
	}
}

// BenchmarkExtractTokens leaves tokenisation out, as Evaluate runs on pre-tokenised M2 sentences.
func BenchmarkExtractTokens(b *testing.B) {
	toks := make([][2][]string, len(benchPairs))
	for i, p := range benchPairs {
		toks[i] = [2][]string{Tokenize(p[0]), Tokenize(p[1])}
	}
	n := 0
	cpu0 := cpuSeconds()
	for b.Loop() {
		p := toks[n%len(toks)]
		ExtractTokens(p[0], p[1])
		n++
	}
	reportRates(b, n, cpu0)
}

// BenchmarkTokenize measures Tokenize on one sentence.
func BenchmarkTokenize(b *testing.B) {
	n := 0
	for b.Loop() {
		Tokenize(benchPairs[n%len(benchPairs)][0])
		n++
	}
}
