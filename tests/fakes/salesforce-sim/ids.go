package main

import (
	"strings"
)

// Salesforce record Ids: 15 case-sensitive base62 chars, plus a 3-char suffix that
// encodes which chars are upper case so that the 18-char form is case-insensitive.

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
const suffixAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"

func isAlnum(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
}

// idSuffix computes the case-safe suffix of a 15-char Id.
func idSuffix(id15 string) string {
	var out [3]byte
	for chunk := 0; chunk < 3; chunk++ {
		n := 0
		for i := 0; i < 5; i++ {
			c := id15[chunk*5+i]
			if c >= 'A' && c <= 'Z' {
				n |= 1 << i
			}
		}
		out[chunk] = suffixAlphabet[n]
	}
	return string(out[:])
}

// to18 extends a 15-char Id to 18 chars.
func to18(id15 string) string { return id15 + idSuffix(id15) }

// normalizeId accepts a 15- or 18-char Id and returns the canonical 18-char form.
// An 18-char Id is case-insensitive: the case of the first 15 chars is restored from
// the suffix, and a suffix that cannot belong to the Id makes it malformed.
func normalizeId(s string) (string, bool) {
	switch len(s) {
	case 15:
		for i := 0; i < 15; i++ {
			if !isAlnum(s[i]) {
				return "", false
			}
		}
		return to18(s), true
	case 18:
		for i := 0; i < 18; i++ {
			if !isAlnum(s[i]) {
				return "", false
			}
		}
		suffix := strings.ToUpper(s[15:])
		b := []byte(s[:15])
		for chunk := 0; chunk < 3; chunk++ {
			n := strings.IndexByte(suffixAlphabet, suffix[chunk])
			if n < 0 {
				return "", false
			}
			for i := 0; i < 5; i++ {
				c := b[chunk*5+i]
				upper := n&(1<<i) != 0
				isLetter := (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
				if upper {
					if !isLetter {
						return "", false
					}
					if c >= 'a' {
						b[chunk*5+i] = c - 32
					}
				} else if c >= 'A' && c <= 'Z' {
					b[chunk*5+i] = c + 32
				}
			}
		}
		id15 := string(b)
		if idSuffix(id15) != suffix {
			return "", false
		}
		return id15 + suffix, true
	}
	return "", false
}

// mintId builds an 18-char Id: key prefix, pod "5e", "0", a 9-char base62 counter.
func mintId(prefix string, counter uint64) string {
	var num [9]byte
	for i := 8; i >= 0; i-- {
		num[i] = base62[counter%62]
		counter /= 62
	}
	return to18(prefix + "5e0" + string(num[:]))
}

// customPrefix gives the n-th custom object its key prefix: a00, a01, ... a0z, a10, ...
func customPrefix(n int) string {
	return "a" + string(base62[(n/62)%62]) + string(base62[n%62])
}
