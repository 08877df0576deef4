package identify

import (
	"strings"
	"testing"
)

func TestValidNIF(t *testing.T) {
	for nif, want := range map[string]bool{"123456789": true, "234567899": true, "123456788": false, "12345678": false, "412345670": false, "999999990": true, "abcdefghi": false} {
		if ValidNIF(nif) != want {
			t.Errorf("ValidNIF(%s) = %v, want %v", nif, !want, want)
		}
	}
}

func TestFindNIF(t *testing.T) {
	cases := []struct{ subject, body, sig, want string }{
		{"", "O meu NIF é 123 456 789.", "", "123456789"},
		{"", "Contribuinte n.º 123.456.789", "", "123456789"},
		{"", "NIF: PT123456789", "", "123456789"},
		{"Fatura NIF 234567899", "Podem enviar a fatura?", "", "234567899"},
		{"", "Ligue-me para o 912 345 678, por favor.", "", ""},
		{"", "Nº de utente SNS 123456789", "", ""},
		{"", "Apólice 234567899, referência Multibanco 123 456 789", "", ""},
		{"", "NIF 12345678", "", ""},
		// A number that starts its line reads the line above, and no further.
		{"", "NIF:\n123456789", "", "123456789"},
		{"", "Telemóvel:\n234567899", "", ""},
		{"", "Acabei nas urgências. Contacto: 962 114 580.\nDuarte Simões\n274396165", "", "274396165"},
		// "NIF da utente" is a NIF, though "utente" alone is the SNS number's word.
		{"", "NIF da utente: 204419492", "", "204419492"},
		{"", "Nº de utente 204419492", "", ""},
		// The procedure asks for the customer's NIF: a firm's number in the same mail (an
		// NIPC, "NIF da empresa", a company's prefix) gives way to it, and is taken only
		// when alone.
		{"", "Emitam em nome da empresa: Pacheco Lda, NIPC 546292208. O meu NIF pessoal é 173105459.", "", "173105459"},
		{"", "NIF da empresa 237513498, o meu é o 173105459", "", "173105459"},
		{"", "Faturem à firma, NIF 546292208.", "Rui Pacheco\nNIF 173105459", "173105459"},
		{"", "NIF 173105459; a empresa tem o NIPC 546292208", "", "173105459"},
		{"", "Solicitamos as faturas dos colaboradores, NIPC 546292208.", "", "546292208"},
	}
	for _, c := range cases {
		got := ""
		if n := FindNIF(c.subject, c.body, c.sig, ""); n != nil && n.Valid {
			got = n.Value
		}
		if got != c.want {
			t.Errorf("%q / %q: got %q, want %q", c.subject, c.body, got, c.want)
		}
	}
	if n := FindNIF("", "o meu NIF é 123456788", "", ""); n == nil || n.Valid {
		t.Errorf("a NIF with a wrong check digit must be reported as invalid, got %+v", n)
	}
	if n := FindNIF("", "NIPC 546292208", "", ""); n == nil || !strings.Contains(n.Why, "firm") {
		t.Errorf("a firm's NIF taken for want of another must say so, got %+v", n)
	}
}

func TestFindName(t *testing.T) {
	cases := []struct{ text, sig, display, want, address string }{
		{"Não recebi a receita.", "Cumprimentos,\nAna Lopes", "", "Ana Lopes", ""},
		{"O meu nome completo é Vasco Miguel Nunes e o NIF 301234566.", "", "", "Vasco Miguel Nunes", ""},
		{"Escrevo em nome da minha mãe, Maria do Carmo Matos, que teve consulta.", "Obrigado,\nCarlos Matos", "", "Maria do Carmo Matos", ""},
		{"Olá", "", "Rui Gomes", "Rui Gomes", ""},
		// The customer's data given as a list: "os meus dados:", "dados do utente:".
		{"Podem reemitir? Os meus dados: Maria de Lurdes Campos, contribuinte 190328476.", "Cumprimentos", "Lurdes", "Maria de Lurdes Campos", ""},
		{"Segue o pedido.\nDados do utente: Rui Pedro Salgado\nNIF 190328476", "", "", "Rui Pedro Salgado", ""},
		// An employer writing for its employee; a department's or a firm's name is no one's.
		{"Solicitamos a fatura da teleconsulta do nosso colaborador Fernando Lopes, realizada a 14/11.", "Com os melhores cumprimentos,\nDepartamento de Contabilidade", "Contabilidade Lopes & Filhos", "Fernando Lopes", ""},
		{"Pedimos a fatura da consulta.", "Cumprimentos,\nDepartamento de Recursos Humanos", "Silva & Costa Lda", "", ""},
		{"Please send the invoice.", "Kind regards,\nAccounts Department", "", "", ""},
		{"Podemos agendar uma reunião?", "Departamento Comercial", "Limpezas Brilho Lda", "", ""},
		{"Segue a proposta.", "", "Tintas Horizonte S.A.", "", ""},
		{"Preciso da fatura com o meu NIF pessoal.", "Obrigada", "Papelaria Central", "", ""},
		{"Ajudamos clínicas a aparecer no Google.", "", "Digital Growth Agency", "", ""},
		{"Qual o procedimento?", "Cumprimentos,\nRecursos Humanos\nTransportes Lusos, S.A.", "", "", ""},
		{"A fatura, por favor.", "Ana Lopes, Farmácia Central", "", "Ana Lopes", ""},
		{"A fatura, por favor.", "Ana Lopes, Farmácia", "", "Ana Lopes", ""},
		// A firm named where a person's name is looked for is no name either, and the
		// search goes on to the signature.
		{"Dados do cliente: Construções Silva Lda NIF 501234565, pedimos a fatura.", "Cumprimentos,\nRita Barros", "", "Rita Barros", ""},
		{"O meu nome é Farmácia Central Unipessoal e queria a fatura.", "", "", "", ""},
		{"Chamo-me Ana Lopes da Clínica Sorriso e queria a fatura.", "", "", "Ana Lopes", ""},
		// A display name without the accents the customer types: the mail's spelling wins.
		{"Conforme pedido segue: Patrícia Moura, NIF 190328476\n\nObrigada", "", "Patricia Moura", "Patrícia Moura", ""},
		{"Fala o Joao Paulo Simoes.", "", "João Paulo Simões", "João Paulo Simões", ""},
		{"A fatura, por favor.", "", "PATRICIA MOURA", "Patricia Moura", ""},
		// A display name typed in lower case is still the customer's name; a word that is
		// no name's keeps it from being one.
		{"preciso d fatura obg\njoana", "", "joana pires", "Joana Pires", ""},
		{"A receita, por favor.", "", "maria da conceição", "Maria da Conceição", ""},
		{"A receita, por favor.", "", "apoio geral", "", ""},
		{"A receita, por favor.", "", "the best team in town", "", ""},
		// A sign-off on the name's own line.
		{"Não encontrei o RQE dele.", "Att. Eduardo Matos", "", "Eduardo Matos", ""},
		{"Podem ajudar?\nObrigada Aline Barbosa", "", "", "Aline Barbosa", ""},
		// A surname cut to its initial is no NOME; a middle initial is.
		{"pagei 3 vezes", "", "joao p.", "", ""},
		{"A fatura.", "Cumprimentos,\nAna M.", "", "", ""},
		{"A fatura.", "Cumprimentos,\nMaria J. Teixeira", "", "Maria J. Teixeira", ""},
		// A title before the name is no part of it.
		{"Podem corrigir o atestado?", "Cumprimentos,\nEng.º Paulo Mendes Castro\nDiretor de Obra", "", "Paulo Mendes Castro", ""},
		{"A receita.", "Dra. Sofia Lima", "", "Sofia Lima", ""},
		// A name typed in lower case counts when the sender's address spells it, and
		// only then.
		{"a receita ainda nao chegou\nmarta silva", "", "", "Marta Silva", "marta.c.silva@hotmail.com"},
		{"a receita ainda nao chegou\nmarta silva", "", "", "", "mcs1990@hotmail.com"},
		{"a receita ainda nao chegou\nate logo", "", "", "", "marta.c.silva@hotmail.com"},
		// A firm's mailbox: a function's (comercial@) or one whose domain the display name
		// spells is no person's, unless the mail is signed or the local part names them.
		{"Podemos agendar uma demonstração?", "Departamento Comercial", "Ergonomia Total", "", "comercial@ergonomiatotal.example.com"},
		{"Podemos agendar uma demonstração?", "", "Ergonomia Total", "", "joao@ergonomia-total.example.com"},
		{"Podemos agendar uma demonstração?", "", "Rui Gomes", "", "geral@example.com"},
		{"A fatura, por favor.", "Cumprimentos,\nRui Gomes", "Loja Central", "Rui Gomes", "geral@example.com"},
		{"A fatura, por favor.", "", "Ana Silva", "Ana Silva", "ana@anasilva.example.pt"},
		{"A fatura, por favor.", "", "Ana Silva", "Ana Silva", "ana.silva@gmail.com"},
		// A form's table, as parse renders it: a label cell, a tab, the value.
		{"Preciso de uma declaração.\nNome\tFernando Gouveia\nNIF\t120148722", "", "", "Fernando Gouveia", ""},
		// "Jr." is part of the name, with its period.
		{"Não consigo entrar.", "Carlos Mendes Jr.", "", "Carlos Mendes Jr.", ""},
		// A third party names the customer with a title and what the person is to us.
		{"Temos ao balcão a D. Rosa Cardoso, utente vossa, com uma receita inválida.", "Farmácia Moderna", "Farmácia Moderna", "Rosa Cardoso", "geral@farmaciamoderna.example.pt"},
		{"O Sr. Rui Matos, vosso cliente, pediu-nos para escrever.", "Lar São José", "", "Rui Matos", "lar@example.pt"},
		{"Falei com o Sr. Rui Matos ontem.", "Cumprimentos,\nAna Lopes", "", "Ana Lopes", ""},
	}
	for _, c := range cases {
		n := FindName(Sources{NewText: c.text, Signature: c.sig, DisplayName: c.display, Address: c.address})
		got := ""
		if n != nil {
			got = n.Value
		}
		if got != c.want {
			t.Errorf("%q: got %q, want %q", c.text, got, c.want)
		}
	}
}

// A relative's forwarded mail names the customer in its From line; a reply's history,
// whose From is often the team's, does not.
func TestFindNameOfAForwardedRelative(t *testing.T) {
	fwd := "---------- Forwarded message ---------\nFrom: Sónia Reis <sonia.reis@gmail.com>\nDate: 2/12/2026\nSubject: consulta\n\nO valor está certo?"
	cases := []struct{ note, quoted, want string }{
		{"Reencaminho o email da minha mulher, ela não tem acesso ao email.", fwd, "Sónia Reis"},
		{"Reencaminho o que enviei do meu email pessoal.", fwd, "Paulo Reis"},
		{"Reencaminho a mensagem da minha mulher.\nVasco Pimentel, NIF 170709728", fwd, "Vasco Pimentel"},
		{"A minha mulher pede a fatura.", "-----Mensagem original-----\nDe: Ana Costa <ana.costa@medicoonline.example.pt>\nBom dia.", "Paulo Reis"},
	}
	for _, c := range cases {
		n := FindName(Sources{NewText: c.note, Quoted: c.quoted, DisplayName: "Paulo Reis"})
		if n == nil || n.Value != c.want {
			t.Errorf("%q: got %+v, want %q", c.note, n, c.want)
		}
	}
}

func TestFindNameOnSignOffLinesAndForRelatives(t *testing.T) {
	cases := []struct{ text, display, want string }{
		{"A declaração tem a hora errada.\nSusana Prata, NIF 308 301 668", "", "Susana Prata"},
		{"Não recebi a fatura.\nObrigado, Paulo Reis", "", "Paulo Reis"},
		{"Olá, sou filha do Artur Sequeira (NIF 263212238). Ele não recebeu a receita. Obrigada, Catarina", "Catarina Sequeira", "Artur Sequeira"},
		{"Sou o neto da Sra. Maria Alice Rocha e escrevo por ela.", "", "Maria Alice Rocha"},
		// The article Portuguese puts before a name: "a minha mulher, a Sara Tomé".
		{"Reencaminho o pedido da minha mulher, a Sara Tomé (NIF 244944547), que não tem email.", "Jorge Tomé", "Sara Tomé"},
		{"Escrevo pelo meu pai, o Sr. Manuel Alves.", "", "Manuel Alves"},
		// A lawyer writing for a client names the client.
		{"Na qualidade de mandatário da Sra. D. Filomena Ramos, venho requerer cópia do relatório.\nDr. Henrique Matos", "Henrique Matos", "Filomena Ramos"},
		{"Sou advogada do Sr. Rui Tavares e escrevo sobre a consulta de dia 3.", "Marta Lemos", "Rui Tavares"},
		{"Problema na app.\nObrigada, Natália", "Natália Reis", "Natália Reis"},
	}
	for _, c := range cases {
		n := FindName(Sources{NewText: c.text, DisplayName: c.display})
		got := ""
		if n != nil {
			got = n.Value
		}
		if got != c.want {
			t.Errorf("%q: got %q, want %q", c.text, got, c.want)
		}
	}
}
