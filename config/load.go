package config

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Default returns the settings that apply where the file is silent.
func Default() Config {
	return Config{
		Daemon: Daemon{
			StateDir:        "/var/lib/triagem",
			PollInterval:    Duration{2 * time.Minute},
			IMAPTimeout:     Duration{60 * time.Second},
			MessageIDDomain: "triagem.invalid",
			LogLevel:        "info",
		},
		Folders: Folders{Processed: "Triagem/Processados", Review: "Triagem/Revisao", Quarantine: "Triagem/Quarentena"},
		SMTP:    SMTP{Port: 587, TLS: "starttls", Timeout: Duration{30 * time.Second}, MaxAttempts: 12, Connections: 4, RetryBase: Duration{30 * time.Second}, RetryMax: Duration{30 * time.Minute}},
		Team:    Team{Language: "pt-PT", Identify: []string{"name", "nif"}},
		Limits: Limits{
			MaxMessageBytes: 32 << 20,
			MaxHeaderBytes:  256 << 10,
			MaxParts:        500,
			MaxDepth:        20,
			MaxTextBytes:    1 << 20,
		},
		Classify: Classify{Threshold: 0.6, MinScore: 1.5, QuotedWeight: 0.3, SubjectWeight: 1.5,
			Model: "embedded", RuleWeight: 0.5, SensitiveFloor: 0.2},
		Audit: Audit{Retention: Duration{30 * 24 * time.Hour}},
		Web:   Web{Listen: "127.0.0.1:8025", SessionTTL: Duration{8 * time.Hour}},
		Approval: Approval{TokenTTL: Duration{72 * time.Hour}, NoticeInterval: Duration{15 * time.Minute},
			AutoSendCap: 1, AutoSendPeriod: Duration{24 * time.Hour}},
		LLM: LLM{Mode: "never", Timeout: Duration{20 * time.Second}, MinConfidence: 0.7, MaxChars: 6000},
	}
}

// Load reads and checks the file at path.
func Load(path string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, src)
}

// Parse decodes src (named path in messages), applies defaults and checks the result.
// All problems are reported at once, each as path:line: message.
func Parse(path string, src []byte) (*Config, error) {
	cfg := Default()
	md, err := toml.Decode(string(src), &cfg)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, Errors{{File: path, Line: pe.Position.Line, Msg: pe.Message}}
		}
		return nil, Errors{{File: path, Msg: err.Error()}}
	}
	cfg.Path = path
	lines := keyLines(src)
	var errs Errors
	for _, k := range md.Undecoded() {
		errs = append(errs, Error{File: path, Line: lines.findLoose(k.String()), Msg: fmt.Sprintf("unknown setting %q: check its spelling against config.toml", k.String())})
	}
	errs = append(errs, cfg.check(path, lines)...)
	if len(errs) > 0 {
		return nil, errs
	}
	return &cfg, nil
}

// Error is one problem in a configuration file.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Errors is every problem found in one file.
type Errors []Error

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

var categoryName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

func (c *Config) check(path string, lines keyIndex) Errors {
	var errs Errors
	bad := func(key, format string, args ...any) {
		errs = append(errs, Error{File: path, Line: lines.find(key), Msg: fmt.Sprintf(format, args...)})
	}
	addr := func(key, v string) {
		if _, err := ParseAddress(v); err != nil {
			if name, _, ok := strings.Cut(v, "<"); ok && strings.ContainsAny(name, ",;:") && !strings.Contains(name, "\"") {
				bad(key, "%q is not a mail address: a display name with %q in it must be in double quotes, like \"\\\"%s\\\" <...>\"",
					v, name[strings.IndexAny(name, ",;:")], strings.TrimSpace(name))
				return
			}
			bad(key, "%q is not a mail address: %v", v, err)
		}
	}

	if c.Daemon.StateDir == "" {
		bad("daemon.state_dir", "state_dir is empty: name a directory for the database and the spool")
	}
	if c.Daemon.PollInterval.Duration < time.Second {
		bad("daemon.poll_interval", "poll_interval %v is too short: use at least 1s", c.Daemon.PollInterval)
	}
	if c.Daemon.IMAPTimeout.Duration < time.Second {
		bad("daemon.imap_timeout", "imap_timeout %v is too short: use at least 1s", c.Daemon.IMAPTimeout)
	}
	if c.Daemon.MessageIDDomain == "" || strings.ContainsAny(c.Daemon.MessageIDDomain, "<>@ \t") {
		bad("daemon.message_id_domain", "message_id_domain %q must be a bare domain", c.Daemon.MessageIDDomain)
	}

	names := map[string]bool{}
	for i, in := range c.Inboxes {
		k := fmt.Sprintf("inbox.%d", i)
		if in.Name == "" || names[in.Name] {
			bad(k+".name", "every inbox needs a unique name (got %q)", in.Name)
		}
		names[in.Name] = true
		checkServer(bad, k, in.Host, in.Port, in.TLS)
		if in.User == "" {
			bad(k+".user", "inbox %q has no user", in.Name)
		}
		if in.PasswordEnv != "" && in.PasswordFile != "" {
			bad(k+".password_env", "inbox %q: set password_env or password_file, not both", in.Name)
		}
		if c.Inboxes[i].Folder == "" {
			c.Inboxes[i].Folder = "INBOX"
		}
	}
	for _, f := range []struct{ key, v string }{{"folders.processed", c.Folders.Processed}, {"folders.review", c.Folders.Review}, {"folders.quarantine", c.Folders.Quarantine}} {
		if f.v == "" {
			bad(f.key, "%s is empty: name an IMAP folder", f.key)
		}
	}

	checkServer(bad, "smtp", c.SMTP.Host, c.SMTP.Port, c.SMTP.TLS)
	if c.SMTP.RetryBase.Duration <= 0 || c.SMTP.RetryMax.Duration < c.SMTP.RetryBase.Duration {
		bad("smtp.retry_base", "retry_base must be positive and no longer than retry_max")
	}
	if c.SMTP.MaxAttempts < 1 {
		bad("smtp.max_attempts", "max_attempts must be at least 1")
	}
	if c.SMTP.Connections < 1 || c.SMTP.Connections > 16 {
		bad("smtp.connections", "connections must be between 1 and 16 (most servers limit a client to about 10)")
	}
	if c.Team.From == "" {
		bad("team.from", "team.from is empty: name the team's sending address")
	} else {
		addr("team.from", c.Team.From)
	}
	if len(c.Team.Agents) == 0 {
		bad("team.agents", "team.agents is empty: drafts need at least one agent")
	}
	for _, a := range c.Team.Agents {
		addr("team.agents", a)
	}
	for _, a := range c.Team.OwnAddresses {
		addr("team.own_addresses", a)
	}
	agents, own := AddressSet(c.Team.Agents...), c.OwnAddresses()
	for _, a := range c.Team.FormSenders {
		addr("team.form_senders", a)
		if pa, err := ParseAddress(a); err == nil && (agents[pa.Address] || own[pa.Address]) {
			bad("team.form_senders", "team.form_senders has %s, which is also an agent or one of our own addresses: a form's mail is a customer's", pa.Address)
		}
	}
	if c.Team.ReviewEscalation != "" {
		addr("team.review_escalation", c.Team.ReviewEscalation)
	}
	for _, w := range c.Team.Identify {
		if w != "name" && w != "nif" {
			bad("team.identify", "team.identify has %q: it knows \"name\" and \"nif\"", w)
		}
	}

	// An empty reply_address is made from team.from: when that is unreadable, it was said above.
	_, fromErr := ParseAddress(c.Team.From)
	derived := c.Approval.ReplyAddress == "" && fromErr != nil
	if p := c.ReplyPattern(); !derived && (strings.Count(p, "{token}") != 1 || !strings.Contains(p, "@") || strings.Index(p, "{token}") > strings.Index(p, "@")) {
		bad("approval.reply_address", "approval.reply_address %q must be an address with {token} in its local part, like suporte+{token}@example.pt", c.Approval.ReplyAddress)
	}
	if c.Web.Listen != "" {
		host, _, err := net.SplitHostPort(c.Web.Listen)
		if err != nil {
			bad("web.listen", "web.listen %q must be host:port, like 127.0.0.1:8025", c.Web.Listen)
		} else if !isLoopback(host) && (c.Web.TLSCert == "" || c.Web.TLSKey == "") {
			bad("web.listen", "web.listen %q is not a loopback address: set web.tls_cert and web.tls_key, or listen on 127.0.0.1", c.Web.Listen)
		}
	}
	for i, au := range c.Web.Auditors {
		if au.Name == "" || !(strings.HasPrefix(au.PasswordHash, "$2") || strings.HasPrefix(au.PasswordHash, "$argon2id$")) {
			bad(fmt.Sprintf("web.auditor.%d", i), "auditor %q needs a name and a bcrypt or argon2id password_hash (see triagem hash-password)", au.Name)
		}
	}
	if c.Audit.Retention.Duration < time.Hour {
		bad("audit.retention", "audit.retention must be at least 1h (the default is 720h, 30 days)")
	}
	if c.Approval.TokenTTL.Duration < time.Second {
		bad("approval.token_ttl", "approval.token_ttl must be positive, like \"72h\"")
	}
	for _, k := range c.Approval.AutoSend {
		if k != "identify" && k != "ack" && k != "answer" {
			bad("approval.auto_send", "approval.auto_send %q must be \"identify\", \"ack\" or \"answer\"", k)
		}
	}
	if c.Limits.MaxMessageBytes < 64<<10 {
		bad("limits.max_message_bytes", "max_message_bytes must be at least 65536")
	}
	if c.Limits.MaxParts < 1 || c.Limits.MaxDepth < 1 || c.Limits.MaxHeaderBytes < 1024 || c.Limits.MaxTextBytes < 1024 {
		bad("limits", "limits must be positive (max_header_bytes and max_text_bytes at least 1024)")
	}
	if c.Classify.Threshold <= 0 || c.Classify.Threshold > 1 {
		bad("classify.threshold", "threshold %v must be in (0, 1]", c.Classify.Threshold)
	}
	if c.Classify.RuleWeight < 0 || c.Classify.SensitiveFloor < 0 || c.Classify.SensitiveFloor > 1 {
		bad("classify", "rule_weight must be ≥ 0 and sensitive_floor in [0, 1]")
	}
	switch c.LLM.Mode {
	case "never":
	case "unsure", "always":
		if c.LLM.BaseURL == "" || c.LLM.Model == "" {
			bad("llm", "llm.mode = %q needs llm.base_url and llm.model (or set mode = \"never\")", c.LLM.Mode)
		}
		if u, err := url.Parse(c.LLM.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("llm.base_url", "llm.base_url %q must be an http(s) URL such as http://127.0.0.1:11434/v1", c.LLM.BaseURL)
		} else if u.Scheme == "http" && !isLoopback(u.Hostname()) {
			bad("llm.base_url", "llm.base_url %q sends mail text unencrypted to another machine: use https", c.LLM.BaseURL)
		}
		if c.LLM.APIType != "" && c.LLM.APIType != "openai" && c.LLM.APIType != "azure" {
			bad("llm.api_type", "llm.api_type %q must be \"openai\" or \"azure\"", c.LLM.APIType)
		}
		if c.LLM.Timeout.Duration <= 0 {
			bad("llm.timeout", "llm.timeout must be positive")
		}
	default:
		bad("llm.mode", "llm.mode %q must be \"never\", \"unsure\" or \"always\"", c.LLM.Mode)
	}

	if len(c.Categories) == 0 {
		bad("category", "no [[category]] is defined: copy them from the shipped config.toml")
	}
	seen := map[string]bool{}
	reviews := 0
	for i, cat := range c.Categories {
		k := fmt.Sprintf("category.%d", i)
		if !categoryName.MatchString(cat.Name) || seen[cat.Name] {
			bad(k+".name", "category name %q must be unique, lower case, and start with a letter", cat.Name)
		}
		seen[cat.Name] = true
		if cat.Review {
			reviews++
			if len(cat.To) > 0 {
				bad(k+".to", "category %q is the review category: it forwards nothing, so it takes no 'to'", cat.Name)
			}
		} else if len(cat.To) == 0 {
			bad(k+".to", "category %q has no 'to' address", cat.Name)
		}
		for _, a := range append(append([]string{}, cat.To...), cat.Cc...) {
			addr(k+".to", a)
		}
		if cat.Threshold < 0 || cat.Threshold > 1 {
			bad(k+".threshold", "category %q threshold %v must be in [0, 1]", cat.Name, cat.Threshold)
		}
		if cat.Disclaimer && c.Team.Disclaimer == "" {
			bad(k+".disclaimer", "category %q asks for the disclaimer but team.disclaimer is empty", cat.Name)
		}
		for j, r := range cat.Rules {
			rk := fmt.Sprintf("%s.rule.%d", k, j)
			if len(r.Any) == 0 {
				bad(rk+".any", "rule %q of %q has no phrases in 'any'", r.Name, cat.Name)
			}
			if r.Weight == 0 {
				bad(rk+".weight", "rule %q of %q has weight 0: give it a weight", r.Name, cat.Name)
			}
		}
	}
	if len(c.Categories) > 0 && reviews != 1 {
		bad("category", "exactly one category must have review = true (found %d)", reviews)
	}
	return errs
}

func checkServer(bad func(key, format string, args ...any), k, host string, port int, mode string) {
	if host == "" {
		bad(k+".host", "%s.host is empty", k)
	}
	if port <= 0 || port > 65535 {
		bad(k+".port", "%s.port %d is not a TCP port", k, port)
	}
	switch mode {
	case "implicit", "starttls":
	case "plain":
		if !isLoopback(host) {
			bad(k+".tls", "%s.tls = \"plain\" is allowed only for a loopback host, not %q: use \"implicit\" or \"starttls\"", k, host)
		}
	default:
		bad(k+".tls", "%s.tls %q must be \"implicit\", \"starttls\" or \"plain\"", k, mode)
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ParseAddress parses one address ("Name <a@b>" or "a@b") and returns it lower-cased.
func ParseAddress(s string) (*mail.Address, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, err
	}
	a.Address = strings.ToLower(a.Address)
	return a, nil
}

// keyIndex maps dotted keys ("inbox.0.host", "category.2.rule.1.any") to the line that sets them.
type keyIndex map[string]int

var (
	tableHeader = regexp.MustCompile(`^\s*\[\[?\s*([A-Za-z0-9_.\- ]+?)\s*\]\]?`)
	keyLine     = regexp.MustCompile(`^\s*([A-Za-z0-9_\-]+)\s*=`)
)

// keyLines finds the line of every key and table. It is a line scanner, not a TOML parser:
// good enough to point at the setting an error is about.
func keyLines(src []byte) keyIndex {
	idx := keyIndex{}
	counts := map[string]int{} // array-of-tables path -> next index
	prefix := ""
	for i, line := range strings.Split(string(src), "\n") {
		n := i + 1
		if m := tableHeader.FindStringSubmatch(line); m != nil {
			name := strings.ReplaceAll(m[1], " ", "")
			if strings.HasPrefix(strings.TrimSpace(line), "[[") {
				// Nested arrays (category.rule) are indexed under their parent's current index.
				parts := strings.Split(name, ".")
				path := ""
				for j, p := range parts {
					if j > 0 {
						path += "."
					}
					path += p
					if j < len(parts)-1 {
						path += "." + strconv.Itoa(counts[path]-1)
					}
				}
				prefix = path + "." + strconv.Itoa(counts[path])
				counts[path]++
				// A new parent element restarts the numbering of its children.
				for k := range counts {
					if strings.HasPrefix(k, prefix+".") {
						delete(counts, k)
					}
				}
			} else {
				prefix = name
			}
			if _, ok := idx[prefix]; !ok {
				idx[prefix] = n
			}
			continue
		}
		if m := keyLine.FindStringSubmatch(line); m != nil {
			k := m[1]
			if prefix != "" {
				k = prefix + "." + k
			}
			if _, ok := idx[k]; !ok {
				idx[k] = n
			}
		}
	}
	return idx
}

// find returns the line of key, or of its nearest enclosing table, or 0.
func (idx keyIndex) find(key string) int {
	for key != "" {
		if n, ok := idx[key]; ok {
			return n
		}
		i := strings.LastIndexByte(key, '.')
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}

// findLoose is find for keys that carry no array indices (as the TOML decoder reports
// undecoded keys): the first line whose indexed key matches once indices are dropped.
func (idx keyIndex) findLoose(key string) int {
	best := 0
	for k, n := range idx {
		if stripIndices(k) == key && (best == 0 || n < best) {
			best = n
		}
	}
	return best
}

func stripIndices(k string) string {
	parts := strings.Split(k, ".")
	out := parts[:0]
	for _, p := range parts {
		if _, err := strconv.Atoi(p); err != nil {
			out = append(out, p)
		}
	}
	return strings.Join(out, ".")
}
