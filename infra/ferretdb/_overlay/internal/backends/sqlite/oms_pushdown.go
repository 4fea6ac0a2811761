// OMS patch (infra/omsinfra.py copies this file into FerretDB v1.24.2 before building ferretdb-local).
//
// FerretDB v1.24's SQLite backend reads and decodes the whole collection for any filter but {_id: x}, and the
// handler sorts in Go. Query's contract (backends.Collection) lets a backend apply the filter partially: every
// caller (find, count, distinct, update, delete, findAndModify, aggregate $match, getMore) applies the whole
// filter again to what Query returns. So the SQL condition built here only has to be a SUPERSET of the true
// matches: it drops documents that can never match and keeps every document that might.

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/FerretDB/FerretDB/internal/backends"
	"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/fsql"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// omsIDKeys counts the top-level "_id" keys of a filter.
func omsIDKeys(filter *types.Document) int {
	n := 0
	for _, k := range filter.Keys() {
		if k == "_id" {
			n++
		}
	}
	return n
}

// omsInIDs returns the SQL arguments of {$in: [ids]} when every id is a string or ObjectID, else nil.
func omsInIDs(cond *types.Document) []any {
	if cond.Len() != 1 {
		return nil
	}
	v, _ := cond.Get("$in")
	arr, ok := v.(*types.Array)
	if !ok {
		return nil
	}
	if arr.Len() == 0 || arr.Len() > 500 { // stay far below SQLite's bound on query parameters
		return nil
	}
	ids := make([]any, 0, arr.Len())
	for i := 0; i < arr.Len(); i++ {
		id := must.NotFail(arr.Get(i))
		switch id.(type) {
		case string, types.ObjectID:
			ids = append(ids, string(must.NotFail(sjson.MarshalSingleValue(id))))
		default:
			return nil
		}
	}
	return ids
}

// omsPush collects the pushed-down SQL conditions of a filter.
//
// Each condition has two forms: the superset form (conds), true for every document the filter part matches, and
// the certain form (certain), equivalent to the filter part for documents whose tested fields are neither arrays
// nor regex values (it drops the "OR f is an array" branches).
type omsPush struct {
	conds   []string
	args    []any
	certain []string
	cargs   []any
	fields  []string // top-level fields that the conditions test
	// typed: fields whose certain form, in the top-level conjunction, only holds for a string or bool there.
	typed map[string]bool
	// keyed: conditions on the indexed value (metadata.OMSString) of a typed field, joined with AND, and args.
	keyed     map[string][]string
	keyedArgs map[string][]any
	// exact: every key and operator of the filter was translated, so the certain form is the filter
	// for documents whose tested fields are neither arrays nor regex values.
	exact bool
}

// newOMSPush returns an empty, exact omsPush.
func newOMSPush() *omsPush {
	return &omsPush{exact: true, typed: map[string]bool{}, keyed: map[string][]string{}, keyedArgs: map[string][]any{}}
}

// add records a condition on field ("" for _id, which is never an array) in both forms; typed says the
// certain form requires a string or bool there; keyed is the certain form written on the indexed value, if any.
func (p *omsPush) add(field, cond, certain string, typed bool, keyed string, args ...any) {
	p.conds, p.certain = append(p.conds, cond), append(p.certain, certain)
	p.args, p.cargs = append(p.args, args...), append(p.cargs, args...)
	if field == "" {
		return
	}
	p.fields = append(p.fields, field)
	if typed {
		p.typed[field] = true
	}
	if keyed != "" {
		p.keyed[field] = append(p.keyed[field], keyed)
		p.keyedArgs[field] = append(p.keyedArgs[field], args...)
	}
}

// merge records the conditions of a sub-filter that is ANDed ($and element).
func (p *omsPush) merge(o *omsPush) {
	p.conds, p.certain = append(p.conds, o.conds...), append(p.certain, o.certain...)
	p.args, p.cargs = append(p.args, o.args...), append(p.cargs, o.cargs...)
	p.fields = append(p.fields, o.fields...)
	for f := range o.typed {
		p.typed[f] = true
	}
	for f, k := range o.keyed {
		p.keyed[f] = append(p.keyed[f], k...)
		p.keyedArgs[f] = append(p.keyedArgs[f], o.keyedArgs[f]...)
	}
	p.exact = p.exact && o.exact
}

// where returns the superset conditions joined with AND ("" for none).
func (p *omsPush) where() string {
	return strings.Join(p.conds, " AND ")
}

// uncertain returns the SQL condition "one of the tested fields (but the typed ones unless all) is an array or
// a regex value" ("" for none): only for those documents may the superset form keep more than the filter.
func (p *omsPush) uncertain(all bool) string {
	var u []string
	seen := map[string]bool{}
	for _, f := range p.fields {
		if !seen[f] && (all || !p.typed[f]) {
			seen[f] = true
			u = append(u, fmt.Sprintf(`IFNULL(%s, '') IN ('array', 'regex')`, metadata.OMSType(f)))
		}
	}
	return strings.Join(u, " OR ")
}

// omsFilterWhere returns the pushed-down SQL condition of a filter (without WHERE; "" for none), its arguments,
// and whether it narrows by _id: {_id: x} with one top-level _id that is a string or ObjectID (as FerretDB
// does for a filter of only that key), or {_id: {$in: [up to 500 of those]}}.
func omsFilterWhere(filter *types.Document) (string, []any, bool) {
	p, byID := omsFilter(filter)
	return p.where(), p.args, byID
}

// omsFilter translates a whole filter (see omsFilterWhere and omsConds).
func omsFilter(filter *types.Document) (*omsPush, bool) {
	p := newOMSPush()
	byID := false

	if n := omsIDKeys(filter); n == 1 {
		switch v := must.NotFail(filter.Get("_id")).(type) {
		case string, types.ObjectID:
			cond := fmt.Sprintf(`%s = ?`, metadata.IDColumn)
			p.add("", cond, cond, false, "", string(must.NotFail(sjson.MarshalSingleValue(v))))
			byID = true
		case *types.Document:
			if ids := omsInIDs(v); len(ids) > 0 {
				marks := strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")
				cond := fmt.Sprintf(`%s IN (%s)`, metadata.IDColumn, marks)
				p.add("", cond, cond, false, "", ids...)
				byID = true
			}
		}
		p.exact = byID
	} else if n > 1 {
		p.exact = false
	}

	p.merge(omsConds(filter, 0))
	return p, byID
}

// omsConds returns SQL conditions that every document matching filter satisfies, with their arguments, for the
// filter's top-level keys other than _id (omsFilter handles a top-level _id); depth bounds $and/$or nesting.
//
// Pushed down (f a top-level field name, v a string or bool, lit a regex that is a plain literal):
//
//	{f: v}, {f: {$eq: v}}  -> f has type string/bool and equals v, OR f is an array (Mongo matches an element)
//	{f: {$gt|$gte|$lt|$lte: "s"}} -> f is a string in that range, OR f is an array
//	{f: {$regex: lit}}, {f: /lit/} (no options) -> f is a string containing lit, OR f is an array or regex
//	{$and: [...]}      -> the conditions of every element
//	{$or: [...]}       -> (conditions of branch 1) OR (branch 2) ..., only if every branch has some
//
// Anything else (other types, other operators, dotted paths, $nor, $not, $expr, ...) adds nothing and makes
// the result inexact.
func omsConds(filter *types.Document, depth int) *omsPush {
	p := newOMSPush()

	if depth > 3 {
		p.exact = false
		return p
	}

	keys, values := filter.Keys(), filter.Values()
	for i, k := range keys {
		v := values[i]

		switch {
		case k == "$and":
			arr, ok := v.(*types.Array)
			if !ok || arr.Len() == 0 {
				p.exact = false
				continue
			}
			for j := 0; j < arr.Len(); j++ {
				d, ok := must.NotFail(arr.Get(j)).(*types.Document)
				if !ok {
					p.exact = false
					continue
				}
				p.merge(omsConds(d, depth+1))
			}

		case k == "$or":
			arr, ok := v.(*types.Array)
			if !ok || arr.Len() == 0 {
				p.exact = false
				continue
			}
			exact, unconstrained := true, false
			var branches, certains []string
			var args, cargs []any
			var fields []string
			for j := 0; j < arr.Len(); j++ {
				d, ok := must.NotFail(arr.Get(j)).(*types.Document)
				if !ok {
					exact, unconstrained = false, true
					break
				}
				b := omsConds(d, depth+1)
				exact = exact && b.exact
				if len(b.conds) == 0 { // a branch without conditions: the $or keeps everything
					unconstrained = true
					continue
				}
				branches = append(branches, "("+b.where()+")")
				certains = append(certains, "("+strings.Join(b.certain, " AND ")+")")
				args, cargs = append(args, b.args...), append(cargs, b.cargs...)
				fields = append(fields, b.fields...)
			}
			p.exact = p.exact && exact
			if !unconstrained {
				p.conds = append(p.conds, "("+strings.Join(branches, " OR ")+")")
				p.certain = append(p.certain, "("+strings.Join(certains, " OR ")+")")
				p.args, p.cargs = append(p.args, args...), append(p.cargs, cargs...)
				p.fields = append(p.fields, fields...) // not typed: a branch may not hold
			}

		case k == "_id":
			if depth > 0 {
				p.exact = false // omsFilter handles only a top-level _id
			}

		case strings.HasPrefix(k, "$"), !metadata.OMSField(k):
			p.exact = false

		default:
			omsField(p, k, v)
		}
	}

	return p
}

// omsField adds the conditions for {field: v}.
func omsField(p *omsPush, field string, v any) {
	typ := metadata.OMSType(field)

	switch v := v.(type) {
	case string, bool:
		omsEq(p, field, v)
		return

	case types.Regex:
		if lit, ok := omsLiteral(v.Pattern); ok && v.Options == "" {
			omsContains(p, field, lit)
			return
		}

	case *types.Document:
		ops, opArgs := v.Keys(), v.Values() // (not Get: it panics on duplicate keys)
		hasRegex := false
		for i, op := range ops {
			if !strings.HasPrefix(op, "$") {
				p.exact = false
				return // an exact sub-document, not operators
			}
			if op == "$options" && opArgs[i] != "" {
				p.exact = false
				return // a $regex with options is not a plain substring
			}
			hasRegex = hasRegex || op == "$regex"
		}

		for i, op := range ops {
			arg := opArgs[i]

			switch op {
			case "$eq":
				omsEq(p, field, arg)

			case "$gt", "$gte", "$lt", "$lte":
				s, ok := arg.(string)
				if !ok || !omsPlainText(s) {
					p.exact = false
					continue
				}
				sqlOp := map[string]string{"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}[op]
				keyed := fmt.Sprintf(`%s %s ?`, metadata.OMSString(field), sqlOp)
				p.add(field, fmt.Sprintf(`(%s OR %s = 'array')`, keyed, typ), keyed, true, keyed, s)

			case "$regex":
				var lit string
				var ok bool
				switch re := arg.(type) {
				case string:
					lit, ok = omsLiteral(re)
				case types.Regex:
					lit, ok = omsLiteral(re.Pattern)
					ok = ok && re.Options == ""
				}
				if ok {
					omsContains(p, field, lit)
				} else {
					p.exact = false
				}

			case "$options":
				p.exact = p.exact && hasRegex // "" with $regex; alone it is an error FerretDB reports

			default:
				p.exact = false
			}
		}

		return
	}

	p.exact = false
}

// omsEq adds the condition for equality with a string or bool (nothing, inexact, for other types).
func omsEq(p *omsPush, field string, v any) {
	typ := metadata.OMSType(field)

	switch v := v.(type) {
	case string:
		if omsPlainText(v) {
			keyed := fmt.Sprintf(`%s = ?`, metadata.OMSString(field))
			p.add(field, fmt.Sprintf(`(%s OR %s = 'array')`, keyed, typ), keyed, true, keyed, v)
			return
		}
	case bool:
		n := 0
		if v {
			n = 1
		}
		certain := fmt.Sprintf(`(%s = 'bool' AND %s = ?)`, typ, metadata.OMSValue(field))
		p.add(field, fmt.Sprintf(`(%s OR %s = 'array')`, certain, typ), certain, true, "", n)
		return
	}

	p.exact = false
}

// omsContains adds the condition for a regex that is the literal lit: a string containing it
// (a Mongo regex also matches an array with such an element, or an equal regex value).
func omsContains(p *omsPush, field, lit string) {
	typ := metadata.OMSType(field)
	certain := fmt.Sprintf(`(%s = 'string' AND instr(%s, ?) > 0)`, typ, metadata.OMSValue(field))
	p.add(field, fmt.Sprintf(`(%s OR %s IN ('array', 'regex'))`, certain, typ), certain, true, "", lit)
}

// omsPlainText reports whether s survives the trip to SQLite text unchanged (valid UTF-8, no NUL).
func omsPlainText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// omsLiteral returns the text a regex pattern matches literally when it has no metacharacters
// (escaped punctuation such as `\.` or `\ ` stands for itself, as in Go's regexp); ok is false otherwise.
// Only printable ASCII, so the substring test in SQLite (instr) is exactly Go's regexp match.
func omsLiteral(pattern string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch {
		case c < 0x20 || c >= 0x7f:
			return "", false
		case c == '\\':
			if i+1 >= len(pattern) {
				return "", false
			}
			n := pattern[i+1]
			if n < 0x20 || n >= 0x7f || ('0' <= n && n <= '9') || ('a' <= n && n <= 'z') || ('A' <= n && n <= 'Z') {
				return "", false // \d, \w, \b, \1, ... are not literals
			}
			b.WriteByte(n)
			i++
		case strings.IndexByte(`.^$*+?()[]{}|`, c) >= 0:
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), b.Len() > 0
}

// omsSortedQuery runs the query in the order of params.OMSSortField (string values, MongoDB order), walking a
// non-unique OMS index whose first key is that field, without LIMIT: the handler filters while reading and
// stops early. ok is false (and the caller runs the ordinary query) unless every document that the pushed
// filter keeps has a string there, which the index answers with one probe for NULL (see metadata.OMSString).
func omsSortedQuery(ctx context.Context, db *fsql.DB, meta *metadata.Collection, params *backends.QueryParams,
	selectClause, where string, args []any) (*fsql.Rows, bool) {
	field := params.OMSSortField
	if !metadata.OMSField(field) || params.Sort.Len() != 0 || params.Limit != 0 || params.OnlyRecordIDs ||
		meta.Capped() {
		return nil, false
	}

	index := omsIndex(meta, field)
	if index == "" {
		return nil, false
	}

	key := metadata.OMSString(field)
	and := ""
	if where != "" {
		and = " AND " + where
	}

	// An index created before this patch has another expression: SQLite then refuses INDEXED BY
	// ("no query solution") and we fall back.
	var one int
	probe := fmt.Sprintf(`SELECT 1 FROM %q INDEXED BY %q WHERE %s IS NULL%s LIMIT 1`, meta.TableName, index, key, and)
	if err := db.QueryRowContext(ctx, probe, args...).Scan(&one); !errors.Is(err, sql.ErrNoRows) {
		return nil, false // some candidate has no string there (or the probe failed)
	}

	dir := ""
	if params.OMSSortDesc {
		dir = " DESC"
	}
	q := fmt.Sprintf(`%s INDEXED BY %q WHERE %s IS NOT NULL%s ORDER BY %s%s`, selectClause, index, key, and, key, dir)
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, false
	}

	return rows, true
}

// omsCountQuery counts in SQL the documents matching an exactly translated filter (see omsPush.exact), except
// those where a tested field is an array or a regex value: those it returns for the handler to match in Go.
// ok is false when the filter is not exactly translated.
//
// Counted: certain form AND NOT (an untyped tested field is an array or regex). A document where a typed field
// is an array or regex fails the certain form (it requires a string or bool there), so nothing is counted twice.
// Returned: superset form AND (a tested field is an array or regex), written so that SQLite can find those
// documents through indexes (see undecided).
func omsCountQuery(ctx context.Context, db *fsql.DB, meta *metadata.Collection, params *backends.QueryParams) (
	*backends.QueryResult, bool, error) {
	if params.Sort.Len() != 0 || params.Limit != 0 || params.OnlyRecordIDs {
		return nil, false, nil
	}
	p, _ := omsFilter(params.Filter)
	if !p.exact {
		return nil, false, nil
	}
	if len(params.OMSGroupFields) > 0 {
		return omsGroupQuery(ctx, db, meta, params, p) // oms_group.go
	}

	q := fmt.Sprintf(`SELECT COUNT(*) FROM %q`, meta.TableName)
	where, args := p.counted()
	if where != "" {
		q += " WHERE " + where
	}
	var n int64
	if err := db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return nil, false, err
	}

	rows, err := p.undecidedRows(ctx, db, meta, params)
	if err != nil {
		return nil, false, err
	}
	return &backends.QueryResult{Iter: newQueryIterator(ctx, rows, false), OMSCount: n, OMSCounted: true}, true, nil
}

// counted returns the SQL condition (without WHERE; "" for none) and arguments of the documents that an exactly
// translated filter decides in SQL: certain form AND NOT (an untyped tested field is an array or regex).
func (p *omsPush) counted() (string, []any) {
	counted := p.certain
	if u := p.uncertain(false); u != "" {
		counted = append(slices.Clone(counted), "NOT ("+u+")")
	}
	return strings.Join(counted, " AND "), p.cargs
}

// undecidedRows reads the documents that counted leaves out but the filter may match (superset form AND a
// tested field is an array or regex), for the handler to match in Go; nil when there are none.
func (p *omsPush) undecidedRows(ctx context.Context, db *fsql.DB, meta *metadata.Collection,
	params *backends.QueryParams) (*fsql.Rows, error) {
	parts := p.undecided(meta)
	if len(parts) == 0 {
		return nil, nil
	}
	var selects []string
	var args []any
	for _, part := range parts { // one SELECT per term, so each gets its own plan; UNION drops repeats
		q := prepareSelectClause(meta.TableName, params.Comment, meta.Capped(), false)
		if part.index != "" {
			q += fmt.Sprintf(` INDEXED BY %q`, part.index)
		}
		selects = append(selects, q+" WHERE "+strings.Join(append(slices.Clone(p.conds), part.term), " AND "))
		args = append(append(args, p.args...), part.args...)
	}
	return db.QueryContext(ctx, strings.Join(selects, " UNION "), args...)
}

// omsIndex returns the SQLite name of a non-unique index of the collection that starts with field, or "".
func omsIndex(meta *metadata.Collection, field string) string {
	for _, idx := range meta.Settings.Indexes {
		if !idx.Unique && len(idx.Key) > 0 && idx.Key[0].Field == field {
			return meta.TableName + "_" + idx.Name
		}
	}
	return ""
}

// omsUndecided is one way to find documents whose tested field is an array or a regex value.
type omsUndecided struct {
	index string // the index to read (INDEXED BY), or "" to let SQLite choose
	term  string
	args  []any
}

// undecided returns terms that together say "a tested field is an array or a regex value", each one written so
// that an index finds its documents among those the superset form keeps:
//   - a field with an OMS index: "its indexed value is NULL (not a string) AND it is an array or regex", read
//     through that index (SQLite's statistics cannot tell that no value there is NULL, so it is named);
//   - another field: "it is an array or regex AND <the certain conditions of every indexed typed field g on its
//     indexed value>"; a document the superset form keeps has at each g either a string meeting those
//     conditions or an array, which the term for g finds. Without such a g, the term alone (a table scan).
func (p *omsPush) undecided(meta *metadata.Collection) []omsUndecided {
	var keyed []string // the certain conditions of every indexed typed field on its indexed value
	var keyedArgs []any
	seen := map[string]bool{}
	for _, f := range p.fields {
		if !seen[f] && len(p.keyed[f]) > 0 && omsIndex(meta, f) != "" {
			keyed = append(keyed, p.keyed[f]...)
			keyedArgs = append(keyedArgs, p.keyedArgs[f]...)
		}
		seen[f] = true
	}

	var parts []omsUndecided
	var others []string // the terms of fields without an index, read in one pass
	seen = map[string]bool{}
	for _, f := range p.fields {
		if seen[f] {
			continue
		}
		seen[f] = true
		odd := fmt.Sprintf(`IFNULL(%s, '') IN ('array', 'regex')`, metadata.OMSType(f))
		if index := omsIndex(meta, f); index != "" {
			parts = append(parts, omsUndecided{index: index,
				term: fmt.Sprintf(`%s IS NULL AND %s`, metadata.OMSString(f), odd)})
		} else {
			others = append(others, odd)
		}
	}
	if len(others) > 0 {
		term := "(" + strings.Join(others, " OR ") + ")"
		if len(keyed) > 0 {
			term += " AND " + strings.Join(keyed, " AND ")
		}
		parts = append(parts, omsUndecided{term: term, args: keyedArgs})
	}
	return parts
}

// omsAnalyzed holds when each table was last analyzed.
var omsAnalyzed sync.Map

// omsAnalyze refreshes SQLite's statistics of a table at most every 5 minutes, in the background: FerretDB never
// runs ANALYZE, and without statistics SQLite cannot tell a selective index (channel) from one that holds every
// row (status of Open Orders). Statistics change plans, never results. It reads the table's indexes (their
// values are stored, no JSON is parsed): about a second at 100,000 documents. (A sampled ANALYZE, analysis_limit,
// estimated every index alike here.)
func omsAnalyze(db *fsql.DB, dbName string, meta *metadata.Collection) {
	key := dbName + "." + meta.TableName
	now := time.Now()
	if last, ok := omsAnalyzed.Load(key); ok && now.Sub(last.(time.Time)) < 5*time.Minute {
		return
	}
	omsAnalyzed.Store(key, now)

	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _ = db.ExecContext(ctx, fmt.Sprintf(`ANALYZE %q`, meta.TableName))
	}()
}
