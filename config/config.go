// Package config loads, defaults and checks triagem's TOML configuration.
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Config is the whole configuration. Every address triagem may ever send to is named here.
type Config struct {
	// Path is the file the configuration was read from ("embedded" for the built-in default).
	Path string `toml:"-"`

	Daemon     Daemon     `toml:"daemon"`
	Inboxes    []Inbox    `toml:"inbox"`
	Folders    Folders    `toml:"folders"`
	SMTP       SMTP       `toml:"smtp"`
	Team       Team       `toml:"team"`
	Approval   Approval   `toml:"approval"`
	Audit      Audit      `toml:"audit"`
	Web        Web        `toml:"web"`
	Privacy    Privacy    `toml:"privacy"`
	Limits     Limits     `toml:"limits"`
	Classify   Classify   `toml:"classify"`
	LLM        LLM        `toml:"llm"`
	Categories []Category `toml:"category"`
}

// Daemon holds process-wide settings.
type Daemon struct {
	StateDir     string   `toml:"state_dir"`
	PollInterval Duration `toml:"poll_interval"`
	// IMAPTimeout bounds every IMAP command; a server silent for longer is reconnected.
	IMAPTimeout     Duration `toml:"imap_timeout"`
	MessageIDDomain string   `toml:"message_id_domain"`
	LogLevel        string   `toml:"log_level"`
	// DryRun decides and logs everything but sends nothing and moves nothing.
	DryRun bool `toml:"dry_run"`
}

// Inbox is one watched IMAP mailbox.
type Inbox struct {
	Name   string `toml:"name"`
	Host   string `toml:"host"`
	Port   int    `toml:"port"`
	TLS    string `toml:"tls"` // implicit | starttls | plain (loopback only)
	User   string `toml:"user"`
	Folder string `toml:"folder"`
	Credentials
}

// Credentials says where a password comes from; the password itself is never in the file.
type Credentials struct {
	PasswordEnv  string `toml:"password_env"`
	PasswordFile string `toml:"password_file"`
}

// Password reads the secret from the environment variable or the file.
func (c Credentials) Password() (string, error) {
	if c.PasswordEnv != "" {
		v, ok := os.LookupEnv(c.PasswordEnv)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set: export it or use password_file", c.PasswordEnv)
		}
		return v, nil
	}
	if c.PasswordFile != "" {
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("read password file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return "", nil
}

// Folders are where handled mail is moved; nothing is ever deleted.
type Folders struct {
	Processed  string `toml:"processed"`
	Review     string `toml:"review"`
	Quarantine string `toml:"quarantine"`
}

// SMTP is the submission server all outgoing mail goes through.
type SMTP struct {
	Host        string   `toml:"host"`
	Port        int      `toml:"port"`
	TLS         string   `toml:"tls"`
	User        string   `toml:"user"`
	Timeout     Duration `toml:"timeout"`
	MaxAttempts int      `toml:"max_attempts"`
	// Connections is how many SMTP sessions send in parallel: a backlog drains at the
	// server's speed, not one round trip at a time.
	Connections int `toml:"connections"`
	// RetryBase is the wait after the first temporary failure; it doubles up to RetryMax.
	RetryBase Duration `toml:"retry_base"`
	RetryMax  Duration `toml:"retry_max"`
	Credentials
}

// Team is who we are and who works here.
type Team struct {
	// From is the team's identity on everything triagem sends.
	From string `toml:"from"`
	// Agents receive drafts and are the only people whose approvals count.
	Agents []string `toml:"agents"`
	// OwnAddresses are ours: mail from them is never answered or forwarded.
	OwnAddresses []string `toml:"own_addresses"`
	// FormSenders are the addresses a web contact form sends from on a customer's behalf.
	// Their mail is the customer's: screened for loops and bounces but not as a robot's,
	// and answered at the form's single Reply-To, or else its "Email:" field.
	FormSenders []string `toml:"form_senders"`
	// ReviewEscalation, when set, receives a copy of every case sent to human review.
	ReviewEscalation string `toml:"review_escalation"`
	// Language of the team, and of the customers' answers unless CustomerLanguages holds
	// the customer's.
	Language string `toml:"language"`
	// CustomerLanguages are the other languages customers are answered in, when they write
	// in one ("en", "es", "ru"); each needs its ack and answer texts. Anything else is
	// answered in Language.
	CustomerLanguages []string `toml:"customer_languages"`
	// TemplatesDir holds PURPOSE.LANG.tmpl files that replace or add to the shipped ones
	// (another procedure's texts, another language). Relative to this file's folder.
	TemplatesDir string `toml:"templates_dir"`
	// Disclaimer is appended to customer-facing text on categories that ask for it.
	Disclaimer string `toml:"disclaimer"`
	// Identify is what the procedure asks of every customer: "name", "nif" (a Portuguese
	// NIF, with its check digit), or both. A case is identified when the mail has all of
	// them; the first answer asks for what is missing. Without "nif", no NIF is looked for.
	Identify []string `toml:"identify"`
}

// AnswerLanguage is the language a customer who writes in lang is answered in.
func (t Team) AnswerLanguage(lang string) string {
	if slices.Contains(t.CustomerLanguages, lang) {
		return lang
	}
	return t.Language
}

// Asks reports whether the procedure asks customers for what ("name" or "nif").
func (t Team) Asks(what string) bool { return slices.Contains(t.Identify, what) }

// Approval configures approval by reply: agents answer a draft from their mail client.
type Approval struct {
	// ReplyAddress is the Reply-To of every draft, with "{token}" where the signed token
	// goes: plus-addressing into a watched inbox ("suporte+{token}@example.pt"). Empty: the
	// team.from address with "+{token}" before the @.
	ReplyAddress string `toml:"reply_address"`
	// KeysEnv / KeysFile hold "ID:SECRET" signing keys, newest first; older ones still
	// verify (rotation). With neither, a key is created in state_dir/approval.key.
	KeysEnv  string   `toml:"keys_env"`
	KeysFile string   `toml:"keys_file"`
	TokenTTL Duration `toml:"token_ttl"`
	// TrustedAuthservID, when set, requires the topmost Authentication-Results from that
	// server to show dkim=pass or dmarc=pass for the agent's domain.
	TrustedAuthservID string `toml:"trusted_authserv_id"`
	// AutoSend lists draft kinds sent without approval ("identify", "ack"). Default: none.
	AutoSend []string `toml:"auto_send"`
	// AutoSendCap automatic answers per customer per AutoSendPeriod; beyond it drafts wait
	// for an agent (RFC 5230 style: never a reply storm to one address).
	AutoSendCap    int      `toml:"auto_send_cap"`
	AutoSendPeriod Duration `toml:"auto_send_period"`
	// NoticeInterval: an agent is told of a refused reply at most this often.
	NoticeInterval Duration `toml:"notice_interval"`
}

// Audit configures the auditors' side: checkpoints and retention.
type Audit struct {
	// SigningKeyEnv / SigningKeyFile hold the Ed25519 seed (hex) that signs checkpoints.
	// With neither, state_dir/audit.key is created on first use.
	SigningKeyEnv  string `toml:"signing_key_env"`
	SigningKeyFile string `toml:"signing_key_file"`
	// Retention is how long raw mail stays in the spool; `triagem purge` enforces it.
	Retention Duration `toml:"retention"`
}

// Web configures the read-only auditors' page, /metrics and /healthz.
type Web struct {
	// Listen is host:port; "" turns the page off. Non-loopback addresses need TLS.
	Listen  string `toml:"listen"`
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// Auditors may log in; their password hashes are bcrypt ($2a$/$2b$/$2y$) or argon2id
	// in PHC form ($argon2id$v=19$m=…,t=…,p=…$salt$hash). `triagem hash-password` makes one.
	Auditors   []Auditor `toml:"auditor"`
	SessionTTL Duration  `toml:"session_ttl"`
}

// Auditor is one account of the auditors' page.
type Auditor struct {
	Name         string `toml:"name"`
	PasswordHash string `toml:"password_hash"`
}

// ReplyPattern is the reply address pattern in effect.
func (c *Config) ReplyPattern() string {
	if c.Approval.ReplyAddress != "" {
		return strings.ToLower(c.Approval.ReplyAddress)
	}
	a, err := ParseAddress(c.Team.From)
	if err != nil {
		return ""
	}
	local, domain, _ := strings.Cut(a.Address, "@")
	return local + "+{token}@" + domain
}

// Privacy configures the key for hashing NIFs in the log.
type Privacy struct {
	KeyEnv  string `toml:"key_env"`
	KeyFile string `toml:"key_file"`
}

// Limits bound what one message may cost.
type Limits struct {
	MaxMessageBytes int64 `toml:"max_message_bytes"`
	MaxHeaderBytes  int   `toml:"max_header_bytes"`
	MaxParts        int   `toml:"max_parts"`
	MaxDepth        int   `toml:"max_depth"`
	MaxTextBytes    int   `toml:"max_text_bytes"`
}

// Classify tunes the decision.
type Classify struct {
	// Threshold is the confidence under which a case goes to human review.
	Threshold float64 `toml:"threshold"`
	// MinScore is the smallest winning score that counts as evidence at all.
	MinScore      float64 `toml:"min_score"`
	QuotedWeight  float64 `toml:"quoted_weight"`
	SubjectWeight float64 `toml:"subject_weight"`
	// Model is the statistical model: "embedded" (trained on the shipped examples for the
	// shipped categories), a path to a file written by `triagem train`, or "none" for
	// rules only.
	Model string `toml:"model"`
	// RuleWeight is how much one point of rule score adds to a category's model logit.
	RuleWeight float64 `toml:"rule_weight"`
	// SensitiveFloor: when a sensitive category has at least this probability but another
	// wins, the case goes to review rather than to the other department.
	SensitiveFloor float64 `toml:"sensitive_floor"`
}

// LLM configures the optional language-model opinion, from any OpenAI-compatible endpoint.
type LLM struct {
	// Mode is when to ask: "never" (the default), "unsure" (only when the local model
	// would send the case to review), or "always".
	Mode    string `toml:"mode"`
	BaseURL string `toml:"base_url"`
	// APIType is "openai" (OpenAI and every compatible server) or "azure".
	APIType string `toml:"api_type"`
	Model   string `toml:"model"`
	// APIKeyEnv names the environment variable holding the key; local servers need none.
	APIKeyEnv string   `toml:"api_key_env"`
	Timeout   Duration `toml:"timeout"`
	// MinConfidence is the least self-reported confidence for an answer to be used.
	MinConfidence float64 `toml:"min_confidence"`
	// MaxChars bounds the (redacted) mail text sent.
	MaxChars int `toml:"max_chars"`
}

// Category is one kind of request and where it goes.
type Category struct {
	Name  string   `toml:"name"`
	Label string   `toml:"label"`
	To    []string `toml:"to"`
	Cc    []string `toml:"cc"`
	// Review marks the catch-all category: its cases go to a human, never forwarded.
	Review bool `toml:"review"`
	// Disclaimer appends Team.Disclaimer to customer-facing text.
	Disclaimer bool `toml:"disclaimer"`
	// Sensitive marks a category (clinical) whose cases must reach only its own address:
	// when it has evidence but loses, the case goes to review instead of elsewhere.
	Sensitive bool `toml:"sensitive"`
	// Threshold, when set, raises the least confidence for routing this category
	// automatically above classify.threshold and the model's calibrated value.
	Threshold float64 `toml:"threshold"`
	// Description tells the language model what belongs here (the label when empty).
	Description string `toml:"description"`
	Rules       []Rule `toml:"rule"`
}

// Rule adds Weight to its category when any phrase occurs, unless an Unless phrase occurs too.
type Rule struct {
	Name   string   `toml:"name"`
	Any    []string `toml:"any"`
	Unless []string `toml:"unless"`
	Weight float64  `toml:"weight"`
}

// Duration is a time.Duration written as "90s" or "2m" in TOML.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration like \"90s\" or \"5m\"", b)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration back as a string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Category returns the category named name, or nil.
func (c *Config) Category(name string) *Category {
	for i := range c.Categories {
		if c.Categories[i].Name == name {
			return &c.Categories[i]
		}
	}
	return nil
}

// ReviewCategory returns the catch-all category's name.
func (c *Config) ReviewCategory() string {
	for _, cat := range c.Categories {
		if cat.Review {
			return cat.Name
		}
	}
	return "other"
}

// File returns a path named in this file (a model, a templates folder) as it must be
// opened: relative ones are relative to the config file's folder, not to where triagem
// was started.
func (c *Config) File(p string) string {
	if p == "" || filepath.IsAbs(p) || c.Path == "" || c.Path == "embedded" {
		return p
	}
	return filepath.Join(filepath.Dir(c.Path), p)
}
