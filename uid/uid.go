// Package uid holds the numbers that name messages inside one mailbox: UIDs,
// UIDVALIDITY values, sets of UIDs written in IMAP sequence-set syntax
// (RFC 9051 §9, "sequence-set"), and maps that pair the UIDs of two mailboxes.
//
// A UID is a strictly ascending, never reused, non-zero 32-bit number; a
// [Validity] names the epoch in which a mailbox's UIDs keep their meaning
// (RFC 9051 §2.3.1.1). The package imports nothing of mailrepl's.
package uid

import (
	"fmt"
	"math"
	"strconv"
)

// UID is a message's unique identifier within one mailbox and one
// UIDVALIDITY epoch. Zero is not a valid UID; stores use it to mean "none".
type UID uint32

// Max is the largest UID that RFC 9051 allows.
const Max UID = math.MaxUint32

// Validity is a mailbox's UIDVALIDITY. Zero is not a valid UIDVALIDITY.
type Validity uint32

// String formats the UID in decimal.
func (u UID) String() string { return strconv.FormatUint(uint64(u), 10) }

// String formats the UIDVALIDITY in decimal.
func (v Validity) String() string { return strconv.FormatUint(uint64(v), 10) }

// Parse parses a decimal UID. It rejects zero, signs, leading "+", spaces and
// values above [Max], and the error quotes the input.
func Parse(s string) (UID, error) {
	n, err := parseNumber(s)
	if err != nil {
		return 0, err
	}
	return UID(n), nil
}

// ParseValidity parses a decimal UIDVALIDITY; the rules are those of [Parse].
func ParseValidity(s string) (Validity, error) {
	n, err := parseNumber(s)
	if err != nil {
		return 0, err
	}
	return Validity(n), nil
}

// parseNumber parses an RFC 9051 nz-number: digits only, no leading zero,
// at most 2^32-1.
func parseNumber(s string) (uint32, error) {
	if s == "" {
		return 0, &SyntaxError{Input: s, Msg: "empty number"}
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, &SyntaxError{Input: s, Msg: "not a number"}
		}
	}
	if s[0] == '0' {
		if len(s) == 1 {
			return 0, &SyntaxError{Input: s, Msg: "zero is not a valid UID"}
		}
		return 0, &SyntaxError{Input: s, Msg: "leading zero"}
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, &SyntaxError{Input: s, Msg: "number out of range (max 4294967295)"}
	}
	return uint32(n), nil
}

// SyntaxError reports input that is not a UID, UIDVALIDITY or UID set.
type SyntaxError struct {
	Input string // the whole input, as given
	Msg   string // what is wrong with it
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("uid: invalid %q: %s", e.Input, e.Msg)
}
