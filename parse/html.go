package parse

import (
	"regexp"
	"strings"

	"golang.org/x/net/html"
)

var blankLines = regexp.MustCompile(`\n{3,}`)

// HTMLToText renders HTML as plain text. Quoted blocks (blockquote, Gmail's gmail_quote,
// Outlook's divRplyFwdMsg) come out with "> " in front, so the quote splitter sees them.
func HTMLToText(src string) string {
	z := html.NewTokenizer(strings.NewReader(src))
	var b strings.Builder
	skip := 0        // inside script/style/head
	quote := 0       // blockquote depth
	var stack []bool // for each open div: did it start a quote?
	lineStart := true
	// gap is what stands between two texts on a line: a space, or a tab between two cells
	// of a table's row, so that a form's "Nome | Ana Lopes" stays a label and its value.
	gap := " "
	write := func(s string) {
		for _, r := range s {
			if lineStart && quote > 0 && r != '\n' {
				b.WriteString(strings.Repeat("> ", quote))
			}
			b.WriteRune(r)
			lineStart = r == '\n'
		}
	}
	newline := func() {
		if !lineStart {
			write("\n")
		}
	}
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			out := blankLines.ReplaceAllString(b.String(), "\n\n")
			return strings.TrimSpace(out)
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			tag := string(name)
			isQuote := false
			if hasAttr {
				for {
					k, v, more := z.TagAttr()
					if string(k) == "class" && (strings.Contains(string(v), "gmail_quote") || strings.Contains(string(v), "moz-cite-prefix")) ||
						string(k) == "id" && (strings.Contains(string(v), "divRplyFwdMsg") || strings.Contains(string(v), "appendonsend")) {
						isQuote = true
					}
					if !more {
						break
					}
				}
			}
			switch tag {
			case "script", "style", "head", "title":
				if tt == html.StartTagToken {
					skip++
				}
			case "br":
				write("\n")
			case "p", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "hr":
				newline()
				if tag == "li" {
					write("- ")
				}
			case "blockquote":
				newline()
				quote++
			case "div":
				newline()
				if tt == html.StartTagToken {
					stack = append(stack, isQuote)
					if isQuote {
						quote++
					}
				}
			case "td", "th":
				gap = "\t"
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "script", "style", "head", "title":
				if skip > 0 {
					skip--
				}
			case "p", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "li":
				newline()
			case "blockquote":
				newline()
				if quote > 0 {
					quote--
				}
			case "div":
				newline()
				if n := len(stack); n > 0 {
					if stack[n-1] && quote > 0 {
						quote--
					}
					stack = stack[:n-1]
				}
			}
		case html.TextToken:
			if skip > 0 {
				continue
			}
			t := string(z.Text())
			t = strings.Join(strings.Fields(t), " ")
			if t == "" {
				continue
			}
			if !lineStart {
				write(gap)
			}
			gap = " "
			write(t)
		}
	}
}
