package approve

import (
	"regexp"
	"strings"

	"github.com/triagem/triagem/textnorm"
)

// Action is what an agent's reply asks for.
type Action string

const (
	None    Action = ""        // nothing the protocol understands
	Approve Action = "approve" // send the stored draft as it is
	Edit    Action = "edit"    // send the agent's text instead
	Reject  Action = "reject"  // discard; the case goes back to review
)

var (
	approveWords = regexp.MustCompile(`^(aprovar|aprovado|aprovo|aprova|ok|okay|sim|approve|approved|yes|aprobar|aprobado|apruebo|si|одобрить|одобряю|одобрено|да)$`)
	rejectWords  = regexp.MustCompile(`^(rejeitar|rejeitado|rejeito|rejeita|reject|rejected|rechazar|rechazado|rechazo|отклонить|отклоняю|отклонено)$`)
	// Lines mail clients add under what the agent wrote.
	clientFooter = regexp.MustCompile(`(?i)^(enviado d[oe] |sent from my |get outlook for |obter o outlook para |enviado a partir d)`)
)

// Reply is an agent's instruction.
type Reply struct {
	Action Action
	// Text is the agent's answer for Edit, cleaned of the quoted draft and the signature.
	Text string
}

// Read interprets the unquoted part of an agent's reply (newText, as the parser split it
// from the quoted history and the signature). draft is the text that was proposed: lines of
// it that a client pasted without quote marks are not taken as the agent's edit.
func Read(newText, draft string) Reply {
	lines := strings.Split(strings.ReplaceAll(newText, "\r\n", "\n"), "\n")
	first := ""
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			first = l
			break
		}
	}
	word := strings.Trim(strings.ToLower(textnorm.Fold(strings.TrimSpace(first))), ".!,;: ")
	switch {
	case first == "":
		return Reply{}
	case approveWords.MatchString(word):
		return Reply{Action: Approve}
	case rejectWords.MatchString(word):
		return Reply{Action: Reject}
	}
	text := cleanEdit(lines, draft)
	if strings.TrimSpace(text) == "" {
		return Reply{}
	}
	return Reply{Action: Edit, Text: text}
}

// cleanEdit drops a signature ("-- " and below), client footers, and any run of trailing
// lines that belong to the proposed draft.
func cleanEdit(lines []string, draft string) string {
	var out []string
	for _, l := range lines {
		t := strings.TrimRight(l, " \t")
		if t == "--" || t == "-- " || clientFooter.MatchString(strings.TrimSpace(t)) {
			break
		}
		out = append(out, t)
	}
	inDraft := map[string]bool{}
	for _, l := range strings.Split(draft, "\n") {
		if s := strings.TrimSpace(l); s != "" {
			inDraft[s] = true
		}
	}
	// A client that pastes the draft below the edit without quote marks: cut from the
	// first line from which every non-blank line to the end belongs to the draft.
	cut := len(out)
	for i := len(out) - 1; i >= 0; i-- {
		s := strings.TrimSpace(out[i])
		if s == "" {
			continue
		}
		if !inDraft[s] {
			break
		}
		cut = i
	}
	// Only when what is left still says something: an agent who retyped the draft's last
	// line as their edit keeps it.
	if cut < len(out) && strings.TrimSpace(strings.Join(out[:cut], "\n")) != "" {
		out = out[:cut]
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}

// Diff is a line diff of a → b, for the audit: "  kept", "- removed", "+ added".
func Diff(a, b string) string {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	// Longest common subsequence, small inputs only (drafts are a screen of text).
	n, m := len(x), len(y)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && x[i] == y[j]:
			out.WriteString("  " + x[i] + "\n")
			i, j = i+1, j+1
		case j < m && (i == n || lcs[i][j+1] > lcs[i+1][j]):
			out.WriteString("+ " + y[j] + "\n")
			j++
		default:
			out.WriteString("- " + x[i] + "\n")
			i++
		}
	}
	return out.String()
}
