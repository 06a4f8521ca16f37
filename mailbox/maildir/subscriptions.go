package maildir

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"

	"github.com/mailrepl/mailrepl/mailbox"
)

// subscriptionsName is the root file listing subscribed mailboxes, in
// Dovecot's format (src/lib-storage/list/subscription-file.c): the header
// "V\t2\n\n", then one line per mailbox, its levels (modified UTF-7, as on
// disk) separated by tabs, each level tab-escaped (\001 as "\0011", tab as
// "\001t", CR "\001r", LF "\001n"). A file without that header is version
// 1: one name per line, levels separated by '.'. It is changed under its
// dotlock, the new content written into the lock file which then replaces
// it.
const subscriptionsName = "subscriptions"

const subsHeader = "V\t2\n\n"

// subscriptionLine is the line naming mailbox name (canonical) in a
// version 2 file.
func subscriptionLine(name string) string {
	if name == mailbox.Inbox {
		return mailbox.Inbox
	}
	var b strings.Builder
	for i, level := range strings.Split(name, string(mailbox.Delimiter)) {
		if i > 0 {
			b.WriteByte('\t')
		}
		for _, c := range []byte(encodeUTF7(level)) {
			switch c {
			case 1:
				b.WriteString("\x011")
			case '\t':
				b.WriteString("\x01t")
			case '\r':
				b.WriteString("\x01r")
			case '\n':
				b.WriteString("\x01n")
			default:
				b.WriteByte(c)
			}
		}
	}
	return b.String()
}

// parseSubscriptionLine returns the mailbox a line names, or false.
func parseSubscriptionLine(line string, version int) (string, bool) {
	var levels []string
	if version >= 2 {
		for _, l := range strings.Split(line, "\t") {
			levels = append(levels, tabUnescape(l))
		}
	} else {
		levels = strings.Split(line, ".")
	}
	for i, l := range levels {
		dec, err := decodeUTF7(l)
		if err != nil {
			return "", false
		}
		levels[i] = dec
	}
	name, err := mailbox.CanonicalName(strings.Join(levels, string(mailbox.Delimiter)))
	if err != nil {
		return "", false
	}
	return name, true
}

func tabUnescape(s string) string {
	if strings.IndexByte(s, 1) < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 1 && i+1 < len(s) {
			switch s[i+1] {
			case '1':
				b.WriteByte(1)
				i++
				continue
			case 't':
				b.WriteByte('\t')
				i++
				continue
			case 'r':
				b.WriteByte('\r')
				i++
				continue
			case 'n':
				b.WriteByte('\n')
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// splitSubscriptions returns the version of a subscriptions file and its
// lines.
func splitSubscriptions(data []byte) (int, []string) {
	version := 1
	if rest, ok := bytes.CutPrefix(data, []byte(subsHeader)); ok {
		version, data = 2, rest
	}
	var lines []string
	for l := range strings.SplitSeq(string(data), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return version, lines
}

// readSubscriptions returns the set of subscribed mailboxes.
func readSubscriptions(path string) (map[string]bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]bool{}, nil
	} else if err != nil {
		return nil, err
	}
	version, lines := splitSubscriptions(data)
	subs := make(map[string]bool, len(lines))
	for _, l := range lines {
		if name, ok := parseSubscriptionLine(l, version); ok {
			subs[name] = true
		}
	}
	return subs, nil
}

// setSubscriptions subscribes (or unsubscribes) the given mailboxes, all
// at once under the file's lock. Lines it does not understand are kept.
func setSubscriptions(ctx context.Context, path string, names []string, subscribe bool, mode fs.FileMode) error {
	l, err := acquireDotlock(ctx, path, subsLockSettings, mode, true)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		l.unlock()
		return err
	}
	version, lines := splitSubscriptions(data)
	if len(data) == 0 {
		version = 2
	}
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	var out bytes.Buffer
	if version >= 2 {
		out.WriteString(subsHeader)
	}
	changed := false
	for _, line := range lines {
		if name, ok := parseSubscriptionLine(line, version); ok && want[name] {
			if !subscribe {
				changed = true
				continue
			}
			delete(want, name) // already there
		}
		out.WriteString(line)
		out.WriteByte('\n')
	}
	if subscribe {
		for _, n := range names {
			if want[n] {
				line := subscriptionLine(n)
				if version < 2 {
					line = strings.ReplaceAll(encodeUTF7Levels(n), "/", ".")
				}
				out.WriteString(line)
				out.WriteByte('\n')
				changed = true
				delete(want, n)
			}
		}
	}
	if !changed {
		l.unlock()
		return nil
	}
	if _, err := l.fd.Write(out.Bytes()); err != nil {
		l.unlock()
		return err
	}
	return l.replace()
}

// encodeUTF7Levels encodes each level of a name, keeping the '/'.
func encodeUTF7Levels(name string) string {
	levels := strings.Split(name, string(mailbox.Delimiter))
	for i, l := range levels {
		levels[i] = encodeUTF7(l)
	}
	return strings.Join(levels, string(mailbox.Delimiter))
}
