package llmtest

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// story is one learner text with its correction, translation and honest correction points.
type story struct {
	before, after, korean string
	points                []string
	expr                  string
}

// sentence is a clean sentence, the fragment a learner gets wrong in it, and the Korean gloss.
// {N} name, {P} place, {T} thing, {D} number are filled in per story.
type sentence struct {
	clean, right, wrong, reason, korean string
}

var bank = []sentence{
	{"My friend {N} doesn't like {T} very much.", "{N} doesn't like", "{N} don't like", "주어가 3인칭 단수이므로 doesn't를 씀", "내 친구 {N}는 {T}을 별로 좋아하지 않는다."},
	{"Yesterday I went to {P} with my sister.", "Yesterday I went", "Yesterday I go", "어제 일이므로 과거 시제를 씀", "어제 나는 여동생과 {P}에 갔다."},
	{"There are {D} books on my desk now.", "{D} books", "{D} book", "복수 명사에는 -s를 붙임", "지금 내 책상 위에는 책이 {D}권 있다."},
	{"I arrived at {P} early in the morning.", "arrived at", "arrived to", "arrive 뒤에는 at을 씀", "나는 아침 일찍 {P}에 도착했다."},
	{"She always goes to the gym after work.", "She always goes", "She always go", "주어가 3인칭 단수이므로 goes를 씀", "그녀는 항상 퇴근 후에 체육관에 간다."},
	{"I am a student at a small university.", "I am a student", "I am student", "셀 수 있는 단수 명사 앞에는 관사가 필요함", "나는 작은 대학교의 학생이다."},
	{"We discussed {T} for {D} hours.", "We discussed {T}", "We discussed about {T}", "discuss는 전치사 없이 목적어를 씀", "우리는 {D}시간 동안 {T}에 대해 이야기했다."},
	{"I enjoy reading novels on the bus.", "I enjoy reading", "I enjoy to read", "enjoy 뒤에는 동명사를 씀", "나는 버스에서 소설 읽는 것을 즐긴다."},
	{"Last weekend {N} cooked dinner for us.", "{N} cooked dinner", "{N} cook dinner", "지난 주말의 일이므로 과거 시제를 씀", "지난 주말에 {N}가 우리에게 저녁을 요리해 주었다."},
	{"I really like {T} these days.", "I really like", "I very like", "동사를 꾸밀 때는 very 대신 really를 씀", "나는 요즘 {T}을 정말 좋아한다."},
	{"He has lived in {P} for {D} years.", "He has lived", "He lives", "기간을 말할 때는 현재완료를 씀", "그는 {D}년 동안 {P}에 살았다."},
	{"My parents gave me some good advice.", "some good advice", "some good advices", "advice는 셀 수 없는 명사임", "부모님은 나에게 좋은 조언을 해 주셨다."},
	{"I can speak English a little.", "I can speak", "I can speaks", "조동사 뒤에는 동사원형을 씀", "나는 영어를 조금 할 수 있다."},
	{"{N} and I met at {P} last month.", "met at {P}", "met in {P}", "특정 장소에서 만날 때는 at을 씀", "{N}와 나는 지난달 {P}에서 만났다."},
	{"It was the best trip of my life.", "the best trip", "best trip", "최상급 앞에는 the를 씀", "그것은 내 인생 최고의 여행이었다."},
	{"Many people were waiting for the bus.", "Many people were", "Many people was", "복수 주어에는 were를 씀", "많은 사람들이 버스를 기다리고 있었다."},
	{"I bought {D} apples at the market.", "{D} apples", "{D} apple", "복수 명사에는 -s를 붙임", "나는 시장에서 사과 {D}개를 샀다."},
	{"My brother listens to music every night.", "My brother listens to", "My brother listen", "3인칭 단수 주어와 listen to를 함께 씀", "내 남동생은 매일 밤 음악을 듣는다."},
	{"We stayed at a hotel near {P}.", "stayed at a hotel", "stayed at hotel", "셀 수 있는 단수 명사 앞에는 관사가 필요함", "우리는 {P} 근처의 호텔에 머물렀다."},
	{"I didn't know what to say to {N}.", "I didn't know", "I don't knew", "과거 부정은 didn't + 동사원형으로 씀", "나는 {N}에게 무슨 말을 해야 할지 몰랐다."},
	{"The weather was very cold yesterday.", "The weather was", "The weather is", "어제 일이므로 과거 시제를 씀", "어제 날씨는 매우 추웠다."},
	{"{N} is interested in {T}.", "interested in", "interested about", "interested 뒤에는 in을 씀", "{N}는 {T}에 관심이 있다."},
	{"I have been to {P} twice.", "I have been to", "I have gone to", "경험을 말할 때는 have been to를 씀", "나는 {P}에 두 번 가 봤다."},
	{"Everyone in my class was excited.", "Everyone in my class was", "Everyone in my class were", "everyone은 단수로 취급함", "우리 반 모두가 신이 났다."},
	{"I usually wake up at {D} o'clock.", "I usually wake up", "I wake up usually", "빈도부사는 일반동사 앞에 씀", "나는 보통 {D}시에 일어난다."},
}

var (
	names  = []string{"Minsu", "Jiyoung", "Hyunwoo", "Seoyeon", "Junho", "Yuna", "Dongwook", "Sora", "Taemin", "Eunji", "Kevin", "Sarah", "Daniel", "Mina", "Jisoo", "Chanwoo", "Hana", "Sungmin", "Nari", "Jaehyun"}
	places = []string{"Busan", "Jeju Island", "the library", "Seoul Station", "the airport", "Gangnam", "the museum", "Incheon", "the park", "Daegu", "Tokyo", "the beach", "the mall", "Gyeongju", "the stadium", "the hospital", "Suwon", "the bookstore", "Osaka", "the cafe"}
	things = []string{"soccer", "cooking", "horror movies", "K-pop", "history", "coffee", "math", "online games", "hiking", "painting", "science fiction", "baseball", "yoga", "jazz", "photography", "camping", "dancing", "chess", "swimming", "travel vlogs"}
)

func makeStory(rng *rand.Rand, expr string) story {
	fill := map[string]string{
		"{N}": names[rng.IntN(len(names))],
		"{P}": places[rng.IntN(len(places))],
		"{T}": things[rng.IntN(len(things))],
		"{D}": fmt.Sprint(2 + rng.IntN(28)),
	}
	sub := func(s string) string {
		for k, v := range fill {
			s = strings.ReplaceAll(s, k, v)
		}
		return s
	}
	picked := rng.Perm(len(bank))[:5+rng.IntN(2)]
	var before, after, korean []string
	var points []string
	for i, idx := range picked {
		s := bank[idx]
		clean := sub(s.clean)
		after = append(after, clean)
		korean = append(korean, sub(s.korean))
		if rng.Float64() < 0.8 {
			right, wrong := sub(s.right), sub(s.wrong)
			before = append(before, strings.Replace(clean, right, wrong, 1))
			points = append(points, fmt.Sprintf("%q → %q: %s", wrong, right, s.reason))
		} else {
			before = append(before, clean)
		}
		if i == 1 {
			line := fmt.Sprintf("I hope I can %s soon.", expr)
			before = append(before, line)
			after = append(after, line)
			korean = append(korean, "곧 그렇게 할 수 있기를 바란다.")
		}
	}
	if len(points) == 0 { // a correction must change something
		s := bank[picked[0]]
		right, wrong := sub(s.right), sub(s.wrong)
		before[0] = strings.Replace(before[0], right, wrong, 1)
		points = append(points, fmt.Sprintf("%q → %q: %s", wrong, right, s.reason))
	}
	return story{
		expr:   expr,
		before: strings.Join(before, " "),
		after:  strings.Join(after, " "),
		korean: strings.Join(korean, " "),
		points: points,
	}
}

// retell returns an earlier story with one name swapped for another and the key expression asked
// for now: a near-duplicate.
func retell(st story, rng *rand.Rand, expr string) story {
	old := fmt.Sprintf("I hope I can %s soon.", st.expr)
	now := fmt.Sprintf("I hope I can %s soon.", expr)
	st.before = strings.Replace(st.before, old, now, 1)
	st.after = strings.Replace(st.after, old, now, 1)
	st.expr = expr
	for _, n := range names {
		if strings.Contains(st.before, n) {
			other := names[rng.IntN(len(names))]
			for other == n {
				other = names[rng.IntN(len(names))]
			}
			st.before = strings.ReplaceAll(st.before, n, other)
			st.after = strings.ReplaceAll(st.after, n, other)
			st.korean = strings.ReplaceAll(st.korean, n, other)
			pts := make([]string, len(st.points))
			for i, p := range st.points {
				pts[i] = strings.ReplaceAll(p, n, other)
			}
			st.points = pts
			return st
		}
	}
	st.before += " That is all."
	st.after += " That is all."
	return st
}
