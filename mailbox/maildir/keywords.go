package maildir

import (
	"bytes"
	"strconv"
	"strings"
)

// maxKeywords is how many keywords a Maildir folder can keep in file
// names: one per letter a-z.
const maxKeywords = 26

// keywords is a folder's dovecot-keywords file: which keyword each letter
// a-z stands for in the file names of that folder. Two folders, and two
// trees, may give one keyword different letters.
//
// The file has one line per letter in use, "<index> <keyword>", index 0
// being 'a'. Like Dovecot, lines that do not fit (no space, a bad index, a
// keyword already named) are skipped.
type keywords struct {
	names [maxKeywords]string // "" when the letter is free
}

func parseKeywords(data []byte) keywords {
	var k keywords
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		idx, name, ok := strings.Cut(string(line), " ")
		if !ok || name == "" {
			continue
		}
		i, err := strconv.Atoi(idx)
		if err != nil || i < 0 || i >= maxKeywords || strings.HasPrefix(idx, "+") {
			continue
		}
		if _, dup := k.letter(name); dup || k.names[i] != "" {
			continue
		}
		k.names[i] = name
	}
	return k
}

// format writes the file as Dovecot does.
func (k *keywords) format() []byte {
	var b bytes.Buffer
	for i, n := range k.names {
		if n != "" {
			b.WriteString(strconv.Itoa(i))
			b.WriteByte(' ')
			b.WriteString(n)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// letter returns the letter of keyword name, compared without regard to
// case as Dovecot does.
func (k *keywords) letter(name string) (byte, bool) {
	for i, n := range k.names {
		if n != "" && strings.EqualFold(n, name) {
			return byte('a' + i), true
		}
	}
	return 0, false
}

// name returns the keyword a letter stands for. A letter with no keyword
// (its line was lost) gets the name Dovecot gives it, "unknown-<index>".
func (k *keywords) name(letter byte) string {
	i := int(letter - 'a')
	if n := k.names[i]; n != "" {
		return n
	}
	return unknownKeyword(i)
}

func unknownKeyword(i int) string { return "unknown-" + strconv.Itoa(i) }

// assign gives keyword name a letter, adding it to the table if needed,
// and reports whether the table changed. A name "unknown-<i>" whose letter
// is free takes that letter back. It fails when all 26 letters are taken.
func (k *keywords) assign(name string) (letter byte, added, ok bool) {
	if l, found := k.letter(name); found {
		return l, false, true
	}
	if rest, isUnknown := strings.CutPrefix(strings.ToLower(name), "unknown-"); isUnknown {
		if i, err := strconv.Atoi(rest); err == nil && i >= 0 && i < maxKeywords && k.names[i] == "" && unknownKeyword(i) == strings.ToLower(name) {
			k.names[i] = name
			return byte('a' + i), true, true
		}
	}
	for i, n := range k.names {
		if n == "" {
			k.names[i] = name
			return byte('a' + i), true, true
		}
	}
	return 0, false, false
}
