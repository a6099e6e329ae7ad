package main

import "testing"

func TestIdSuffixVectors(t *testing.T) {
	vectors := map[string]string{
		"001000000000001": "001000000000001AAA",
		"a0BA0000000L2ZC": "a0BA0000000L2ZCMA0",
		"70130000001tcyI": "70130000001tcyIAAQ",
		"00558000001N0Ke": "00558000001N0KeAAK",
		"0012800000CXn0k": "0012800000CXn0kAAD",
		"003xx000004TmiQ": "003xx000004TmiQAAS",
		"00Q5e00000AbCdE": "00Q5e00000AbCdEEAV",
		"AaaAABbbBBCccCC": "AaaAABbbBBCccCCZZZ",
		"ABCDEFGHIJKLMNO": "ABCDEFGHIJKLMNO555",
		"aaaaaaaaaaaaaaa": "aaaaaaaaaaaaaaaAAA",
		"a0D30000001n7Pi": "a0D30000001n7PiEAI",
	}
	for in, want := range vectors {
		if got := to18(in); got != want {
			t.Errorf("to18(%s) = %s, want %s", in, got, want)
		}
		if got, ok := normalizeId(in); !ok || got != want {
			t.Errorf("normalizeId(%s) = %s %v", in, got, ok)
		}
		if got, ok := normalizeId(want); !ok || got != want {
			t.Errorf("normalizeId(%s) = %s %v", want, got, ok)
		}
	}
}

func TestNormalizeIdCaseInsensitive18(t *testing.T) {
	got, ok := normalizeId("00q5E00000ABCDEEAV")
	if !ok || got != "00Q5e00000AbCdEEAV" {
		t.Fatalf("got %s %v", got, ok)
	}
	got, ok = normalizeId("00q5e00000abcdeeav")
	if !ok || got != "00Q5e00000AbCdEEAV" {
		t.Fatalf("lower-case 18-char id: got %s %v", got, ok)
	}
}

func TestNormalizeIdMalformed(t *testing.T) {
	for _, in := range []string{"", "001", "0010000000000012", "001RM000003oLrB000", "001000000000001AA!", "00100000000000-", "001000000000001AA6"} {
		if got, ok := normalizeId(in); ok {
			t.Errorf("normalizeId(%q) accepted as %s", in, got)
		}
	}
}

func TestMintId(t *testing.T) {
	id := mintId("003", 1)
	if id != "0035e0000000001AAA" {
		t.Fatalf("mintId = %s", id)
	}
	id = mintId("a00", 62*62+61)
	if len(id) != 18 || id[:3] != "a00" || id[15:] != idSuffix(id[:15]) {
		t.Fatalf("bad id %s", id)
	}
	seen := map[string]bool{}
	for i := uint64(1); i < 5000; i++ {
		id := mintId("001", i)
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		seen[id] = true
		if n, ok := normalizeId(id); !ok || n != id {
			t.Fatalf("minted id %s does not normalize", id)
		}
	}
	if customPrefix(0) != "a00" || customPrefix(33) != "a0X" {
		t.Fatalf("customPrefix: %s %s", customPrefix(0), customPrefix(33))
	}
}
