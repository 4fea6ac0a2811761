// OMS patch (infra/omsinfra.py copies this file into FerretDB v1.24.2 before building ferretdb-local).
//
// Grouped counts in SQL: the handler's [{$match: F}, ({$unwind: "$u"},) {$group: {_id: <top-level fields>,
// <out>: {$sum: <number>}}}] (handler/oms_group.go) asks Query for OMSCountOnly with OMSGroupFields. When F is
// translated exactly (see omsCountQuery), SQL groups the documents it decides by the sjson schema and JSON text
// of each field and counts them; the handler builds $group's answer from those counts and matches and groups the
// undecided documents (a tested field holding an array or regex) in Go. Only values whose equality in SQL is
// exactly $group's are grouped here: a missing field, null, a bool, a string. If any decided document holds
// anything else there (a number: 1, 1.0 and 1L are one group; an array, a document, an ObjectId, ...), ok is
// false and Query reads the documents for FerretDB's own $match and $group.

package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/FerretDB/FerretDB/internal/backends"
	"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/fsql"
	"github.com/FerretDB/FerretDB/internal/util/lazyerrors"
)

// omsGroupQuery counts per distinct values of params.OMSGroupFields (per element of params.OMSUnwind, as
// $unwind does: none for a missing field, null or [], one per array element, the value itself otherwise) the
// documents that p, an exactly translated filter, decides in SQL, and returns the undecided ones in Iter.
//
// SQL groups by one text per document: the sjson schema and JSON text of every grouped field (one json_extract,
// so the document is parsed once; a whole list for OMSUnwind, expanded here). Equal values have equal texts
// (sjson writes a string as Go's encoding/json does); a value with two texts would only split a group, and the
// handler merges the groups by value.
func omsGroupQuery(ctx context.Context, db *fsql.DB, meta *metadata.Collection, params *backends.QueryParams,
	p *omsPush) (*backends.QueryResult, bool, error) {
	fields, unwind := params.OMSGroupFields, params.OMSUnwind
	paths := make([]string, 0, 2*len(fields))
	for _, f := range fields {
		if !metadata.OMSField(f) {
			return nil, false, nil
		}
		paths = append(paths, fmt.Sprintf(`'$."$s".p.%[1]s', '$.%[1]s'`, f))
	}
	if unwind != "" && (len(fields) != 1 || fields[0] != unwind || unwind == "_id") {
		return nil, false, nil
	}

	q := fmt.Sprintf(`SELECT json_extract(%s, %s), COUNT(*) FROM %q`,
		metadata.DefaultColumn, strings.Join(paths, ", "), meta.TableName)
	where, args := p.counted()
	if where != "" {
		q += " WHERE " + where
	}
	q += " GROUP BY 1"

	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()

	var groups []backends.OMSGroup
	for rows.Next() {
		var text string
		var n int64
		if err = rows.Scan(&text, &n); err != nil {
			return nil, false, err
		}
		var pairs []json.RawMessage // schema and value of each field
		if err = json.Unmarshal([]byte(text), &pairs); err != nil || len(pairs) != 2*len(fields) {
			return nil, false, lazyerrors.Errorf("OMS grouped count: unexpected row %q", text)
		}

		if unwind != "" {
			elems, ok := omsUnwound(pairs[0], pairs[1])
			if !ok {
				return nil, false, nil
			}
			for _, v := range elems {
				groups = append(groups, backends.OMSGroup{Values: []any{v}, Count: n})
			}
			continue
		}

		values := make([]any, len(fields))
		for i := range values {
			var sch omsSchema
			if err = json.Unmarshal(pairs[2*i], &sch); err != nil {
				return nil, false, lazyerrors.Error(err)
			}
			v, ok := omsGroupValue(sch.T, pairs[2*i+1])
			if !ok {
				return nil, false, nil
			}
			values[i] = v
		}
		groups = append(groups, backends.OMSGroup{Values: values, Count: n})
	}
	if err = rows.Err(); err != nil {
		return nil, false, err
	}

	undecided, err := p.undecidedRows(ctx, db, meta, params)
	if err != nil {
		return nil, false, err
	}
	return &backends.QueryResult{Iter: newQueryIterator(ctx, undecided, false), OMSCounted: true,
		OMSGroups: groups}, true, nil
}

// omsSchema is the part of a field's sjson schema that omsGroupQuery reads: its type ("" when the field is
// missing) and, for an array, its elements' schemas.
type omsSchema struct {
	T string       `json:"t"`
	I []*omsSchema `json:"i"`
}

// omsUnwound returns the values that $unwind makes of a field (schema and JSON text): none for a missing field,
// null or an empty array, an array's elements, else the value; ok is false if one has a type omsGroupValue lacks.
func omsUnwound(schema, text json.RawMessage) ([]any, bool) {
	var sch omsSchema
	if json.Unmarshal(schema, &sch) != nil {
		return nil, false
	}
	switch sch.T {
	case "", "null":
		return nil, true
	case "array":
		var elems []json.RawMessage
		if json.Unmarshal(text, &elems) != nil || len(elems) != len(sch.I) {
			return nil, false
		}
		values := make([]any, len(elems))
		for i, elem := range elems {
			if sch.I[i] == nil {
				return nil, false
			}
			v, ok := omsGroupValue(sch.I[i].T, elem)
			if !ok {
				return nil, false
			}
			values[i] = v
		}
		return values, true
	}
	v, ok := omsGroupValue(sch.T, text)
	return []any{v}, ok
}

// omsGroupValue returns the BSON value of a field from its sjson type ("" when missing) and JSON text, decoded as
// sjson decodes it (nil for a missing field); ok is false for a type that omsGroupQuery does not group.
func omsGroupValue(typ string, text json.RawMessage) (any, bool) {
	switch typ {
	case "":
		return nil, true
	case "null":
		return types.Null, true
	case "bool":
		var b bool
		if json.Unmarshal(text, &b) == nil {
			return b, true
		}
	case "string":
		var s string
		if json.Unmarshal(text, &s) == nil {
			return s, true
		}
	}
	return nil, false
}
