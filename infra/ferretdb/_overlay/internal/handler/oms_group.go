// OMS patch (infra/omsinfra.py copies this file into FerretDB v1.24.2 before building ferretdb-local).
//
// FerretDB v1.24 runs $group in Go after decoding every matching document (minutes for the orders service's
// grid counts at 100,000 orders). A counting $group by top-level fields:
//
//	[{$match: F}, {$group: {_id: "$f" | {k1: "$f1", ...}, <out>: {$sum: <number>}}}]
//	[{$match: F}, {$unwind: "$u"}, {$group: {_id: "$u", <out>: {$sum: <number>}}}]
//
// (<out> is optional)
//
// asks the SQLite backend for counts per distinct values (backends.QueryParams.OMSGroupFields; see
// backends/sqlite/oms_group.go). The backend answers when F is translated exactly and every document it decides
// holds a missing field, null, a bool or a string there; the documents it leaves undecided are matched, unwound
// and grouped here as $match, $unwind and $group do. The answer is built as $group builds it: _id evaluated as
// evaluateDocument does (a missing field is null when it is the only one, else left out), each accumulator
// applied to as many documents as the group counts (the same number type). Groups come in another order than
// FerretDB's own (first seen); $group promises none. Anything else takes FerretDB's own path.

package handler

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"

	"github.com/FerretDB/FerretDB/internal/backends"
	"github.com/FerretDB/FerretDB/internal/handler/common"
	"github.com/FerretDB/FerretDB/internal/handler/common/aggregations"
	"github.com/FerretDB/FerretDB/internal/handler/common/aggregations/operators/accumulators"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/iterator"
	"github.com/FerretDB/FerretDB/internal/util/lazyerrors"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// omsName is a top-level field name or an _id key that the grouped count handles (as metadata.OMSField).
var omsName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// omsGroupSpec is a counting pipeline that the backend may group (see omsGroupPipeline).
type omsGroupSpec struct {
	filter *types.Document
	unwind string   // the unwound field, or ""
	fields []string // the grouped top-level fields
	keys   []string // the keys of an _id document, or nil when _id is "$field"
	outs   []string // the accumulators' output fields, in order
	accs   []accumulators.Accumulator
}

// omsGroupPipeline returns the spec of a counting pipeline (see the file comment), or false.
func omsGroupPipeline(pipeline []any) (*omsGroupSpec, bool) {
	if len(pipeline) != 2 && len(pipeline) != 3 {
		return nil, false
	}
	stages := make([]*types.Document, len(pipeline))
	for i, v := range pipeline {
		d, ok := v.(*types.Document)
		if !ok || d.Len() != 1 {
			return nil, false
		}
		stages[i] = d
	}

	g := new(omsGroupSpec)
	var ok bool
	if stages[0].Command() != "$match" {
		return nil, false
	}
	if g.filter, ok = stages[0].Values()[0].(*types.Document); !ok {
		return nil, false
	}
	if len(stages) == 3 {
		if g.unwind, ok = omsFieldPath(stages[1], "$unwind"); !ok || g.unwind == "_id" {
			return nil, false
		}
	}
	group := stages[len(stages)-1]
	spec, ok := group.Values()[0].(*types.Document)
	if group.Command() != "$group" || !ok {
		return nil, false
	}

	seen := map[string]bool{}
	ids := 0
	keys, values := spec.Keys(), spec.Values()
	for i, k := range keys {
		if k == "_id" {
			ids++
			if !g.groupKey(values[i]) {
				return nil, false
			}
			continue
		}
		if seen[k] || k == "" || strings.HasPrefix(k, "$") || strings.Contains(k, ".") {
			return nil, false
		}
		seen[k] = true
		acc, ok := values[i].(*types.Document)
		if !ok || acc.Len() != 1 || acc.Command() != "$sum" {
			return nil, false
		}
		switch acc.Values()[0].(type) {
		case int32, int64, float64: // a constant: $sum adds it once per document
		default:
			return nil, false
		}
		a, err := accumulators.NewAccumulator("$group", k, acc)
		if err != nil {
			return nil, false
		}
		g.outs, g.accs = append(g.outs, k), append(g.accs, a)
	}
	// FerretDB's $group hands each group's documents to its first accumulator only (the next ones read an
	// exhausted iterator and answer 0), and after $unwind it keeps only _id and the unwound field of an array's
	// documents: neither is MongoDB's answer, so those pipelines keep FerretDB's own path.
	if ids != 1 || len(g.accs) > 1 || (g.unwind != "" && (g.keys != nil || g.fields[0] != g.unwind)) {
		return nil, false
	}
	return g, true
}

// omsFieldPath returns f of {stage: "$f"} for a top-level field f.
func omsFieldPath(stage *types.Document, name string) (string, bool) {
	s, ok := stage.Values()[0].(string)
	if stage.Command() != name || !ok || !strings.HasPrefix(s, "$") || !omsName.MatchString(s[1:]) {
		return "", false
	}
	return s[1:], true
}

// groupKey records the grouped fields of $group's _id: "$f" or {k1: "$f1", ...} with distinct keys.
func (g *omsGroupSpec) groupKey(id any) bool {
	switch id := id.(type) {
	case string:
		if !strings.HasPrefix(id, "$") || !omsName.MatchString(id[1:]) {
			return false
		}
		g.fields = []string{id[1:]}
		return true
	case *types.Document:
		if id.Len() == 0 {
			return false
		}
		seen := map[string]bool{}
		keys, values := id.Keys(), id.Values()
		for i, k := range keys {
			f, ok := values[i].(string)
			if seen[k] || !omsName.MatchString(k) || !ok || !strings.HasPrefix(f, "$") || !omsName.MatchString(f[1:]) {
				return false
			}
			seen[k] = true
			g.keys, g.fields = append(g.keys, k), append(g.fields, f[1:])
		}
		return true
	}
	return false
}

// key returns $group's _id for the grouped fields' values (nil for a missing field), as FerretDB evaluates it.
func (g *omsGroupSpec) key(values []any) any {
	if g.keys == nil {
		if values[0] == nil {
			return types.Null // $group treats a missing field as null
		}
		return values[0]
	}
	doc := types.MakeDocument(len(g.keys))
	for i, k := range g.keys {
		switch {
		case values[i] != nil:
			doc.Set(k, values[i])
		case len(g.keys) == 1:
			doc.Set(k, types.Null)
		}
	}
	return doc
}

// values returns the grouped fields' values (nil for a missing field) of a document that $match kept: one list,
// or with $unwind one per value that $unwind makes of the document (as FerretDB's unwind stage).
func (g *omsGroupSpec) values(doc *types.Document) [][]any {
	if g.unwind == "" {
		values := make([]any, len(g.fields))
		for i, f := range g.fields {
			values[i], _ = doc.Get(f) // nil when missing
		}
		return [][]any{values}
	}
	switch v, _ := doc.Get(g.unwind); v := v.(type) {
	case nil, types.NullType:
		return nil
	case *types.Array:
		var out [][]any
		for i := 0; i < v.Len(); i++ {
			out = append(out, []any{must.NotFail(v.Get(i))})
		}
		return out
	default:
		return [][]any{{v}}
	}
}

// omsCanonical returns a text that equal _id values (missing fields, null, bools, strings and documents of
// those) share and no other _id value has; ok is false for any other value.
func omsCanonical(b *strings.Builder, v any) bool {
	switch v := v.(type) {
	case types.NullType:
		b.WriteString("n")
	case bool:
		if v {
			b.WriteString("t")
		} else {
			b.WriteString("f")
		}
	case string:
		b.WriteString("s" + strconv.Itoa(len(v)) + ":" + v)
	case *types.Document:
		b.WriteString("{")
		keys, values := v.Keys(), v.Values()
		for i, k := range keys {
			b.WriteString(strconv.Itoa(len(k)) + ":" + k)
			if !omsCanonical(b, values[i]) {
				return false
			}
		}
		b.WriteString("}")
	default:
		return false
	}
	return true
}

// omsGroupCounts holds counts per _id in the order first added.
type omsGroupCounts struct {
	ids    []any
	counts []int64
	index  map[string]int
}

// add counts n more for id; false if id is not a value that omsCanonical handles.
func (c *omsGroupCounts) add(id any, n int64) bool {
	var b strings.Builder
	if !omsCanonical(&b, id) {
		return false
	}
	if i, ok := c.index[b.String()]; ok {
		c.counts[i] += n
		return true
	}
	c.index[b.String()] = len(c.ids)
	c.ids, c.counts = append(c.ids, id), append(c.counts, n)
	return true
}

// omsGroupStages processes a counting pipeline (omsGroupPipeline) with the backend's grouped count when it can,
// else like processStagesDocuments.
func omsGroupStages(ctx context.Context, closer *iterator.MultiCloser, c backends.Collection,
	qp *backends.QueryParams, g *omsGroupSpec, stages []aggregations.Stage) (types.DocumentsIterator, error) {
	q := *qp
	q.Filter = g.filter // the whole $match (the handler may have removed dotted keys from qp.Filter)
	q.OMSCountOnly = true
	q.OMSGroupFields, q.OMSUnwind = g.fields, g.unwind

	res, err := c.Query(ctx, &q)
	if err != nil {
		closer.Close()
		return nil, lazyerrors.Error(err)
	}
	closer.Add(res.Iter)

	if !res.OMSCounted { // the backend read the candidates instead: FerretDB's own stages
		iter := res.Iter
		for _, s := range stages {
			if iter, err = s.Process(ctx, iter, closer); err != nil {
				return nil, err
			}
		}
		return iter, nil
	}

	counts := &omsGroupCounts{index: map[string]int{}}
	for _, group := range res.OMSGroups {
		if !counts.add(g.key(group.Values), group.Count) {
			return nil, lazyerrors.Errorf("OMS grouped count: unexpected value in %v", group.Values)
		}
	}

	undecided := common.FilterIterator(res.Iter, closer, g.filter)
	for {
		_, doc, err := undecided.Next()
		if errors.Is(err, iterator.ErrIteratorDone) {
			break
		}
		if err != nil {
			return nil, lazyerrors.Error(err)
		}
		for _, values := range g.values(doc) {
			if !counts.add(g.key(values), 1) {
				// A number (1, 1.0 and 1L are one group, named by the first seen), an array, a document...:
				// FerretDB's own stages, in its own order.
				return processStagesDocuments(ctx, closer, &stagesDocumentsParams{c, qp, stages})
			}
		}
	}

	docs := make([]*types.Document, len(counts.ids))
	for i, id := range counts.ids {
		doc := must.NotFail(types.NewDocument("_id", id))
		for j, acc := range g.accs {
			empty := omsEmptyDocuments(counts.counts[i])
			out, err := acc.Accumulate(empty)
			empty.Close()
			if err != nil {
				return nil, lazyerrors.Error(err)
			}
			doc.Set(g.outs[j], out)
		}
		docs[i] = doc
	}

	iter := iterator.Values(iterator.ForSlice(docs))
	closer.Add(iter)
	return iter, nil
}

// omsEmptyDocuments returns an iterator of n empty documents (what a constant accumulator reads per group).
func omsEmptyDocuments(n int64) types.DocumentsIterator {
	i := int64(0)
	return iterator.ForFunc(func() (struct{}, *types.Document, error) {
		if i >= n {
			return struct{}{}, nil, iterator.ErrIteratorDone
		}
		i++
		return struct{}{}, must.NotFail(types.NewDocument()), nil
	})
}
