package maildir

import (
	"fmt"
	"strings"

	"github.com/mailrepl/mailrepl/mailbox"
)

// maxDirName is the longest directory name most filesystems allow, in
// bytes; a Maildir++ folder keeps its whole hierarchy in one name.
const maxDirName = 255

// dirName returns the Maildir++ directory, relative to the root, of the
// mailbox name (already in canonical form): "" for INBOX, ".A.B" for
// "A/B", each level in modified UTF-7. A level holding '.' (the separator
// on disk) cannot be stored, nor can a name starting with '~', which
// Dovecot refuses; both give an error wrapping mailbox.ErrInvalidName.
func dirName(name string) (string, error) {
	if name == mailbox.Inbox {
		return "", nil
	}
	if strings.HasPrefix(name, "~") {
		return "", fmt.Errorf("%w %q: Dovecot refuses names starting with '~'", mailbox.ErrInvalidName, name)
	}
	var b strings.Builder
	for level := range strings.SplitSeq(name, string(mailbox.Delimiter)) {
		if strings.IndexByte(level, '.') >= 0 {
			return "", fmt.Errorf("%w %q: a level holds '.', the Maildir++ separator", mailbox.ErrInvalidName, name)
		}
		b.WriteByte('.')
		b.WriteString(encodeUTF7(level))
	}
	dir := b.String()
	if len(dir) > maxDirName {
		return "", fmt.Errorf("%w %q: its directory name would be %d bytes, more than %d", mailbox.ErrInvalidName, name, len(dir), maxDirName)
	}
	return dir, nil
}

// mailboxName returns the mailbox name of a Maildir++ directory entry of
// the root (".A.B" gives "A/B"), or an error saying why the entry is not a
// mailbox this store can name: not starting with a single '.', an empty
// level, a level that is not canonical modified UTF-7, a name that is not
// valid or that another spelling of INBOX would shadow.
func mailboxName(dir string) (string, error) {
	if len(dir) < 2 || dir[0] != '.' || dir[1] == '.' {
		return "", fmt.Errorf("not a Maildir++ folder name")
	}
	var b strings.Builder
	for i, level := range strings.Split(dir[1:], ".") {
		if level == "" {
			return "", fmt.Errorf("empty level")
		}
		dec, err := decodeUTF7(level)
		if err != nil {
			return "", fmt.Errorf("level %q: %w", level, err)
		}
		if i > 0 {
			b.WriteByte(mailbox.Delimiter)
		}
		b.WriteString(dec)
	}
	name := b.String()
	canon, err := mailbox.CanonicalName(name)
	if err != nil {
		return "", err
	}
	if canon != name || name == mailbox.Inbox {
		return "", fmt.Errorf("name %q is taken by INBOX", name)
	}
	if back, err := dirName(name); err != nil || back != dir {
		return "", fmt.Errorf("name %q does not map back to it", name)
	}
	return name, nil
}
