package classify

import (
	"sort"
	"strings"
)

// index lays the compiled rules out for matching (see Classifier.byFirst).
func (c *Classifier) index() {
	c.byFirst = map[string][]phraseRef{}
	for ci := range c.cats {
		for ri := range c.cats[ci].rules {
			r := &c.cats[ci].rules[ri]
			id := len(c.rules)
			c.rules = append(c.rules, ruleRef{cat: ci, rule: r})
			add := func(list []phrase, unless bool) {
				for n := range list {
					p := &list[n]
					ref := phraseRef{rule: id, n: n, unless: unless, p: p}
					if p.prefix && len(p.words) == 1 {
						c.prefixOnly = append(c.prefixOnly, ref)
						continue
					}
					c.byFirst[p.words[0]] = append(c.byFirst[p.words[0]], ref)
					if len(p.words) == 1 && !p.prefix {
						for _, typo := range transpositions(p.words[0]) {
							c.byFirst[typo] = append(c.byFirst[typo], ref)
						}
					}
				}
			}
			add(r.any, false)
			add(r.unless, true)
		}
	}
}

// minTypoLetters is the shortest word whose typing slips are matched too: in a short word,
// two letters swapped make another word more often than a slip.
const minTypoLetters = 6

// transpositions are the slips of a word that customers type most: two neighbouring
// letters swapped ("fatrua" for "fatura", "andriod"), never the first letter, in words of
// minTypoLetters or more. They are indexed as the word itself, so matching costs nothing
// more. Only whole one-word phrases get them: a prefix ("cobrad*") is tried against every
// word, and its slips would be as many more tries.
func transpositions(w string) []string {
	r := []rune(w)
	if len(r) < minTypoLetters {
		return nil
	}
	var out []string
	for i := 1; i+1 < len(r); i++ {
		if r[i] == r[i+1] {
			continue
		}
		t := append([]rune(nil), r...)
		t[i], t[i+1] = t[i+1], t[i]
		out = append(out, string(t))
	}
	return out
}

// matchAt reports whether p occurs in words starting at i.
func matchAt(words []string, i int, p *phrase) bool {
	last := len(p.words) - 1
	if i+last >= len(words) {
		return false
	}
	for k := 0; k <= last; k++ {
		w := words[i+k]
		if w != p.words[k] && !(k == last && p.prefix && strings.HasPrefix(w, p.words[k])) {
			return false
		}
	}
	return true
}

// sectionMatch is, per rule, the first of its 'any' phrases found in one section (-1 for
// none) and whether an 'unless' phrase was found.
type sectionMatch struct {
	any     []int
	blocked []bool
}

func (c *Classifier) match(words []string, m *sectionMatch) {
	m.any = m.any[:0]
	m.blocked = m.blocked[:0]
	for range c.rules {
		m.any = append(m.any, -1)
		m.blocked = append(m.blocked, false)
	}
	found := func(ref phraseRef) {
		if ref.unless {
			m.blocked[ref.rule] = true
		} else if m.any[ref.rule] < 0 || ref.n < m.any[ref.rule] {
			m.any[ref.rule] = ref.n
		}
	}
	for i, w := range words {
		for _, ref := range c.byFirst[w] {
			// A one-word phrase is found by its key: the word, or one of its slips.
			if len(ref.p.words) == 1 || matchAt(words, i, ref.p) {
				found(ref)
			}
		}
		for _, ref := range c.prefixOnly {
			if strings.HasPrefix(w, ref.p.words[0]) {
				found(ref)
			}
		}
	}
}

// ruleScores adds every rule that fires to res. Each rule counts once, in the section where
// it weighs most: new text 1, subject SubjectWeight, quoted history QuotedWeight. A rule
// does not fire in a section that also holds one of its 'unless' phrases. The subject and
// the new text are one message, the customer's, so an 'unless' in either blocks both; the
// quoted history is someone else's words, and blocks only itself.
func (c *Classifier) ruleScores(subject string, words *[3][]string, res *Result) {
	names := [3]string{"subject", "new", "quoted"}
	weights := [3]float64{c.subjectWeightOf(subject), 1, c.quotedWeight}
	var m [3]sectionMatch
	for s := range m {
		if weights[s] > 0 && len(words[s]) > 0 {
			c.match(words[s], &m[s])
		}
	}
	for id, ref := range c.rules {
		var best *Hit
		for s := range m {
			if len(m[s].any) == 0 || m[s].any[id] < 0 || m[s].blocked[id] || (s < 2 && blockedIn(&m[1-s], id)) {
				continue
			}
			score := ref.rule.weight * weights[s]
			if best == nil || score > best.Score {
				best = &Hit{Category: c.cats[ref.cat].name, Rule: ref.rule.name, Phrase: ref.rule.any[m[s].any[id]].text, Where: names[s], Score: score}
			}
		}
		if best != nil {
			res.Scores[best.Category] += best.Score
			res.Hits = append(res.Hits, *best)
		}
	}
	sort.SliceStable(res.Hits, func(i, j int) bool { return res.Hits[i].Score > res.Hits[j].Score })
}

// blockedIn reports whether section m found one of rule id's 'unless' phrases.
func blockedIn(m *sectionMatch, id int) bool {
	return len(m.blocked) > id && m.blocked[id]
}
