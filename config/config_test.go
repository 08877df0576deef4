package config_test

import (
	"strings"
	"testing"

	"github.com/triagem/triagem"
	"github.com/triagem/triagem/config"
)

func TestShippedConfigIsValidAndCarriesProcedure001(t *testing.T) {
	cfg, err := config.Parse("config.toml", triagem.DefaultConfig)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{
		"documents": {"telemedicina@smpsaude.pt", ""}, "insurance": {"medico.online@medis.pt", ""},
		"tech": {"medico.online@medis.pt", ""}, "refund": {"medico.online@medis.pt", ""},
		"invoice":  {"rute.joao.externo@ageas.pt", "clinicadigital@saude360.medis.pt"},
		"clinical": {"areaclinica@saude360.medis.pt", ""},
	}
	for name, w := range want {
		c := cfg.Category(name)
		if c == nil || strings.Join(c.To, ",") != w[0] || strings.Join(c.Cc, ",") != w[1] {
			t.Errorf("category %s: %+v, want to %s cc %s", name, c, w[0], w[1])
		}
	}
	if !cfg.Category("insurance").Disclaimer || cfg.Team.Disclaimer != "Para informações adicionais relacionadas com o seguro de saúde Médis, deve utilizar o e-mail apoioaocliente@medis.pt, ou ligar para o número 218 458 888." {
		t.Errorf("the insurance disclaimer is not the seed's text: %q", cfg.Team.Disclaimer)
	}
	if cfg.Team.ReviewEscalation != "" {
		t.Errorf("review escalation must be off by default")
	}
}

func TestEveryErrorAtOnceWithLines(t *testing.T) {
	src := `[daemon]
state_dir = "/tmp/x"
poll_interval = "0s"
[[inbox]]
name = "a"
host = "imap.example.test"
port = 993
tls = "plain"
user = "u"
[smtp]
host = "smtp.example.test"
port = 99999
tls = "starttls"
connections = 0
[team]
from = "not an address"
agents = ["agent@example.test"]
disclaimer = "x"
[[category]]
name = "docs"
to = ["nobody"]
[[category]]
name = "other"
review = true
[classify]
threshhold = 0.5
`
	_, err := config.Parse("test.toml", []byte(src))
	if err == nil {
		t.Fatal("a broken config was accepted")
	}
	msg := err.Error()
	for _, want := range []string{"test.toml:3:", "test.toml:8:", "test.toml:12:", "test.toml:14:", "test.toml:16:", "test.toml:21:", "test.toml:26: unknown setting"} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
}

func TestRewriteDomainsLeavesNoRealAddress(t *testing.T) {
	cfg, err := config.Parse("config.toml", triagem.DefaultConfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RewriteDomains("example.test")
	for a := range cfg.Recipients() {
		if !strings.HasSuffix(a, "@example.test") {
			t.Errorf("%s survived the rewrite", a)
		}
	}
}

// A display name with a comma must be quoted; the error says so, once, and not again as a
// bad reply address derived from it.
func TestAnUnquotedCommaInADisplayNameIsExplained(t *testing.T) {
	src := `[daemon]
state_dir = "/tmp/x"
[[inbox]]
name = "a"
host = "imap.example.test"
port = 993
tls = "implicit"
user = "u"
password_env = "P"
[smtp]
host = "smtp.example.test"
[team]
from = "Clínica, apoio <apoio@example.test>"
agents = ["agent@example.test"]
[[category]]
name = "other"
review = true
`
	_, err := config.Parse("test.toml", []byte(src))
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	if !strings.Contains(msg, `test.toml:13:`) || !strings.Contains(msg, "double quotes") {
		t.Errorf("no hint about quoting on line 13:\n%s", msg)
	}
	if strings.Contains(msg, "reply_address") {
		t.Errorf("the bad from was reported again as a reply address:\n%s", msg)
	}
	quoted := strings.Replace(src, `from = "Clínica, apoio <apoio@example.test>"`, `from = "\"Clínica, apoio\" <apoio@example.test>"`, 1)
	if _, err := config.Parse("test.toml", []byte(quoted)); err != nil {
		t.Errorf("the quoted form was refused: %v", err)
	}
}

func TestIdentifyKnowsNameAndNIF(t *testing.T) {
	src := strings.Replace(string(triagem.DefaultConfig), `identify = ["name", "nif"]`, `identify = ["name", "cpf"]`, 1)
	_, err := config.Parse("test.toml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), `team.identify has "cpf"`) {
		t.Errorf("an unknown identifier: %v", err)
	}
	cfg, err := config.Parse("embedded", triagem.DefaultConfig)
	if err != nil || !cfg.Team.Asks("name") || !cfg.Team.Asks("nif") {
		t.Errorf("procedure 001 asks NOME and NIF: %v, %+v", err, cfg.Team.Identify)
	}
}

// A form's mail is a customer's: its sender cannot also be an agent or one of ours.
func TestFormSendersAreNeitherAgentsNorOurs(t *testing.T) {
	base := string(triagem.DefaultConfig)
	ok := strings.Replace(base, "form_senders = []", `form_senders = ["Formulários <Forms@medicoonline.example.pt>"]`, 1)
	cfg, err := config.Parse("test.toml", []byte(ok))
	if err != nil || !cfg.FormSenders()["forms@medicoonline.example.pt"] {
		t.Fatalf("a form sender: %v, %v", err, cfg.FormSenders())
	}
	for bad, want := range map[string]string{
		`form_senders = ["agentes@medicoonline.example.pt"]`: "team.form_senders has agentes@",
		`form_senders = ["suporte@medicoonline.example.pt"]`: "team.form_senders has suporte@",
		`form_senders = ["not an address"]`:                  "is not a mail address",
	} {
		if _, err := config.Parse("test.toml", []byte(strings.Replace(base, "form_senders = []", bad, 1))); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", bad, err, want)
		}
	}
}
