package mailgen

import "strings"

// The vocabulary of generated mail. Word lists are fields of text rather than
// literal slices so that they read as prose; they are split once.

var words = strings.Fields(`
the of and to in is that it for on with as was be by this are or at from have an not but they which one
you all were her we there been has when who will more no if out so said what up its about into than them
can only other new some could time these two may then do first any my now such like our over me even
most made after also did many before must through back years where much your way well down should
because each just those people how too little state good very make world still own see work long get
here between both life being under never day same another know while last might us great old year
off come since against go came right used take three
meeting release build server mailbox replication index patch review deadline budget invoice report draft
schedule kernel package upstream changelog regression benchmark latency throughput cluster backup restore
disk quota folder message thread reply proposal agenda minutes contract customer ticket outage incident
deploy rollback config option default timeout retry queue worker storage network certificate password
account migration schedule calendar holiday travel expense receipt lunch office project milestone
roadmap feature issue bug fix test tests coverage fuzz race goroutine channel interface module vendor
tarball mirror signature checksum upload download archive compress rotate logs metrics alert dashboard`)

// utf8Words are mixed into 8-bit bodies and encoded subjects.
var utf8Words = strings.Fields(`
café naïve résumé über straße façade jalapeño smörgåsbord Zürich Ærøskøbing crème brûlée déjà
coöperation Ångström señor año niño Kraków Łódź Škoda Dvořák Göteborg Reykjavík Þingvellir
東京 データ 会議 メール 메일 서버 почта сервер резервная копия ελληνικά δοκιμή שלום مرحبا 🙂 ✓ €`)

var firstNames = strings.Fields(`Alice Bob Carol Dave Erin Frank Grace Heidi Ivan Judy Mallory Niaj Olivia
Peggy Rupert Sybil Trent Victor Walter Wendy Yusuf Mei Hiro Ana Omar Priya Lars Ingrid Pablo Fatima
Zoë Jürgen Søren Amélie Chloé Łukasz Renée José François Björn Ayşe Nuño Siân`)

var lastNames = strings.Fields(`Smith Jones Brown Wilson Taylor Martin Bernard Lopez Kim Chen Rossi Novak
Silva Olsen Nakamura Kowalski Dubois Schmidt Evans Walker Patel Singh Haddad Cohen Murphy Fischer
Müller García Žukauskas Ó'Brien Sørensen Gonçalves Åberg Çelik`)

var domains = strings.Fields(`example.com example.org example.net mail.example.com corp.example.net
uni.example.edu research.example.edu shop.example.com isp.example.net`)

var mailers = []string{
	"Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.6.0",
	"Mutt/2.2.9 (2022-11-12)",
	"Roundcube Webmail/1.6.5",
	"Apple Mail (2.3731.700.6)",
	"Microsoft Outlook 16.0",
	"Evolution 3.46.4-2",
	"K-9 Mail for Android",
	"aerc 0.16.0",
}

var attachmentKinds = []struct {
	ext, ctype string
	magic      string
}{
	{"pdf", "application/pdf", "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"},
	{"jpg", "image/jpeg", "\xff\xd8\xff\xe0\x00\x10JFIF\x00"},
	{"png", "image/png", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"},
	{"zip", "application/zip", "PK\x03\x04\x14\x00\x06\x00"},
	{"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "PK\x03\x04\x14\x00\x06\x00"},
	{"tar.gz", "application/gzip", "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"},
}

// isASCII reports whether s is 7-bit.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// asciiFold spells a name in lower-case ASCII for an address's local part.
func asciiFold(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		switch {
		case c >= 'a' && c <= 'z':
			b.WriteRune(c)
		case strings.ContainsRune("éèêëę", c):
			b.WriteByte('e')
		case strings.ContainsRune("üúů", c):
			b.WriteByte('u')
		case strings.ContainsRune("øöóő", c):
			b.WriteByte('o')
		case strings.ContainsRune("áàâäåã", c):
			b.WriteByte('a')
		case strings.ContainsRune("çć", c):
			b.WriteByte('c')
		case strings.ContainsRune("ñń", c):
			b.WriteByte('n')
		case strings.ContainsRune("łĺ", c):
			b.WriteByte('l')
		case strings.ContainsRune("řŕ", c):
			b.WriteByte('r')
		case strings.ContainsRune("šşś", c):
			b.WriteByte('s')
		case c == 'ž' || c == 'ź':
			b.WriteByte('z')
		case strings.ContainsRune("ıíïîì", c):
			b.WriteByte('i')
		case c == 'æ':
			b.WriteString("ae")
		}
	}
	return b.String()
}
