package loose

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
)

// maildirName is what the name of a file copied out of a Maildir says:
// "<seconds>.<unique>.<host>[,S=<size>…]:2,<flags>" (or with '!' for ':',
// as some tools write on file systems without ':').
type maildirName struct {
	flags   string    // the flag letters after "2,", up to a ','
	hasInfo bool      // the name has a ":2," part
	time    time.Time // from the leading seconds; zero when none
}

// Dates a Maildir name's seconds may give: a name whose leading number
// lies outside is no Maildir name (lost+found names "#12345" have none).
var (
	minNameTime = time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	maxNameTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
)

func parseMaildirName(name string) maildirName {
	var n maildirName
	base := name
	for _, sep := range []string{":2,", "!2,"} {
		if i := strings.LastIndex(name, sep); i > 0 {
			flags := name[i+len(sep):]
			if j := strings.IndexByte(flags, ','); j >= 0 {
				flags = flags[:j]
			}
			if isLetters(flags) {
				n.flags, n.hasInfo, base = flags, true, name[:i]
				break
			}
		}
	}
	if i := strings.IndexByte(base, '.'); i > 0 {
		if secs, err := strconv.ParseInt(base[:i], 10, 64); err == nil && base[0] != '0' && secs >= minNameTime && secs < maxNameTime {
			n.time = time.Unix(secs, 0).UTC()
		}
	}
	return n
}

func isLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// dateSlack is how much later than its name's time a Maildir file's mtime
// may be and still be taken as its internal date (Dovecot sets a
// delivered file's mtime to its internal date, seconds after naming it).
const dateSlack = 10 * time.Minute

// internalDate picks a file's internal date: its mtime (where Dovecot and
// other Maildir programs keep it, and the date of any other file), unless
// a Maildir name's time is older by more than dateSlack: then the file
// was copied without its mtime, and the name's time is the better date.
func internalDate(n maildirName, mtime time.Time) time.Time {
	if !n.time.IsZero() && mtime.After(n.time.Add(dateSlack)) {
		return n.time
	}
	return mtime
}

// Flags in Maildir names, as in package maildir: D \Draft, F \Flagged,
// P mailbox.Passed, R \Answered, S \Seen, T \Deleted; other capitals the
// private flag "%Maildir-<letter>"; a-z keywords through the folder's
// dovecot-keywords ("unknown-<index>" for a letter it lacks, as Dovecot
// names it).
var letterFlags = map[byte]mailbox.Flag{
	'D': mailbox.Draft,
	'F': mailbox.Flagged,
	'P': mailbox.Passed,
	'R': mailbox.Answered,
	'S': mailbox.Seen,
	'T': mailbox.Deleted,
}

// keywords is a dovecot-keywords file: the keyword of each letter a-z.
type keywords [26]string

// parseKeywords reads "<index> <keyword>" lines, skipping those that do
// not fit, as Dovecot does.
func parseKeywords(data []byte) *keywords {
	var k keywords
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		idx, name, ok := strings.Cut(string(line), " ")
		i, err := strconv.Atoi(idx)
		if !ok || name == "" || err != nil || i < 0 || i >= len(k) || strings.HasPrefix(idx, "+") || k[i] != "" {
			continue
		}
		k[i] = name
	}
	return &k
}

func (k *keywords) name(letter byte) string {
	i := int(letter - 'a')
	if k != nil && k[i] != "" {
		return k[i]
	}
	return "unknown-" + strconv.Itoa(i)
}

// decodeFlags turns flag letters into Flags. Keywords that are no IMAP
// atoms are left out.
func decodeFlags(letters string, kw *keywords) mailbox.Flags {
	if letters == "" {
		return mailbox.Flags{}
	}
	var list []mailbox.Flag
	for i := 0; i < len(letters); i++ {
		c := letters[i]
		switch {
		case 'A' <= c && c <= 'Z':
			if f, ok := letterFlags[c]; ok {
				list = append(list, f)
			} else {
				list = append(list, mailbox.Flag("%Maildir-"+string(c)))
			}
		case 'a' <= c && c <= 'z':
			if f, err := mailbox.ParseFlag(kw.name(c)); err == nil && f.IsKeyword() {
				list = append(list, f)
			}
		}
	}
	fl, err := mailbox.NewFlags(list...)
	if err != nil {
		return mailbox.Flags{} // cannot happen: every flag was checked
	}
	return fl
}
