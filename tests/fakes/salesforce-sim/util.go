package main

import "sort"

func sortRecords(rs []*Record, cmp func(a, b *Record) int) {
	sort.SliceStable(rs, func(i, j int) bool { return cmp(rs[i], rs[j]) < 0 })
}
