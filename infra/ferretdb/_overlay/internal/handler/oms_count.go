// OMS patch (infra/omsinfra.py copies this file into FerretDB v1.24.2 before building ferretdb-local).
//
// PyMongo's count_documents runs the pipeline [{$match: F}, {$group: {_id: 1, n: {$sum: 1}}}]. FerretDB v1.24
// decodes every candidate document in Go to count them. When the SQLite backend translated F exactly it counts
// in SQL (backends.QueryParams.OMSCountOnly; backends/sqlite/oms_pushdown.go omsCountQuery) and returns only the
// documents it could not decide (a tested field holding an array or a regex value), which are matched here in
// Go as before. The $group stage then runs unchanged over that many empty documents, so the answer has exactly
// FerretDB's shape (no document for a count of 0, the same number type).

package handler

import (
	"context"

	"github.com/FerretDB/FerretDB/internal/backends"
	"github.com/FerretDB/FerretDB/internal/handler/common"
	"github.com/FerretDB/FerretDB/internal/handler/common/aggregations"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/iterator"
	"github.com/FerretDB/FerretDB/internal/util/lazyerrors"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// omsCountStages processes the stages like processStagesDocuments, counting in SQL for a count pipeline.
func omsCountStages(ctx context.Context, closer *iterator.MultiCloser, c backends.Collection,
	qp *backends.QueryParams, pipeline []any, stages []aggregations.Stage) (types.DocumentsIterator, error) {
	if g, ok := omsGroupPipeline(pipeline); ok && len(stages) == len(pipeline) {
		return omsGroupStages(ctx, closer, c, qp, g, stages) // counts per group (oms_group.go)
	}

	filter, ok := omsCountPipeline(pipeline)
	if !ok || len(stages) != 2 {
		return processStagesDocuments(ctx, closer, &stagesDocumentsParams{c, qp, stages})
	}

	q := *qp
	q.Filter = filter // the whole $match (the handler may have removed dotted keys from qp.Filter)
	q.OMSCountOnly = true

	res, err := c.Query(ctx, &q)
	if err != nil {
		closer.Close()
		return nil, lazyerrors.Error(err)
	}
	closer.Add(res.Iter)

	iter := res.Iter
	if res.OMSCounted {
		undecided, err := iterator.ConsumeCount(common.FilterIterator(res.Iter, closer, filter))
		if err != nil {
			return nil, lazyerrors.Error(err)
		}
		n, i := res.OMSCount+int64(undecided), int64(0)
		iter = iterator.ForFunc(func() (struct{}, *types.Document, error) {
			if i >= n {
				return struct{}{}, nil, iterator.ErrIteratorDone
			}
			i++
			return struct{}{}, must.NotFail(types.NewDocument()), nil
		})
		closer.Add(iter)
		stages = stages[1:] // the $match is done
	}

	for _, s := range stages {
		if iter, err = s.Process(ctx, iter, closer); err != nil {
			return nil, err
		}
	}

	return iter, nil
}

// omsCountPipeline returns F of [{$match: F}, {$group: {_id: <constant>, <name>: {$sum: 1}}}].
func omsCountPipeline(pipeline []any) (*types.Document, bool) {
	if len(pipeline) != 2 {
		return nil, false
	}
	match, ok1 := pipeline[0].(*types.Document)
	group, ok2 := pipeline[1].(*types.Document)
	if !ok1 || !ok2 || match.Len() != 1 || match.Command() != "$match" || group.Len() != 1 ||
		group.Command() != "$group" {
		return nil, false
	}
	filter, ok1 := match.Values()[0].(*types.Document)
	spec, ok2 := group.Values()[0].(*types.Document)
	if !ok1 || !ok2 || spec.Len() != 2 {
		return nil, false
	}

	keys, values := spec.Keys(), spec.Values()
	if keys[0] != "_id" || keys[1] == "_id" {
		return nil, false
	}
	switch id := values[0].(type) {
	case int32, int64, float64, bool, types.NullType:
	case string:
		if len(id) > 0 && id[0] == '$' {
			return nil, false // a field path: not a constant
		}
	default:
		return nil, false
	}
	acc, ok := values[1].(*types.Document)
	if !ok || acc.Len() != 1 || acc.Command() != "$sum" {
		return nil, false
	}
	switch one := acc.Values()[0].(type) {
	case int32:
		ok = one == 1
	case int64:
		ok = one == 1
	case float64:
		ok = one == 1
	default:
		ok = false
	}
	return filter, ok
}
