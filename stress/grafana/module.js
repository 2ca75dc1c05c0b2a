/*
 * The front end of the ocluster-sim data source, in plain JavaScript: there
 * is no npm here, so no build step. Grafana loads a plugin's module.js with
 * SystemJS as an AMD module and hands it its own copies of the shared
 * packages named below (the same ones a webpack build of a plugin leaves
 * external). The backend (gpx_ocluster-sim) answers every query; this file
 * only edits the settings and the queries. See source/doc.go for the query
 * model.
 */
define(['@grafana/data', '@grafana/runtime', '@grafana/ui', 'react'], function (data, runtime, ui, React) {
  'use strict';

  var h = React.createElement;

  var queryTypes = [
    { value: 'series', label: 'Series', description: 'a metric over virtual time' },
    { value: 'stats', label: 'Stats', description: 'a number of each run' },
    { value: 'wait_cdf', label: 'Wait CDF', description: "the waits' percentiles per client" },
    { value: 'comparison', label: 'Comparison', description: 'policies against the baseline' },
    { value: 'runs', label: 'Runs', description: 'the runs in the folder' },
  ];

  // The text fields of a query; the backend ignores those a type does not use.
  var textFields = [
    { key: 'run', label: 'Run', placeholder: 'all runs', tooltip: 'a run as the Runs query lists it; a comparison for Comparison' },
    { key: 'metric', label: 'Metric', placeholder: 'e.g. queued, wait_p95_s', tooltip: 'an unknown metric fails with the list of those there are' },
    { key: 'pool', label: 'Pool', placeholder: 'all pools', tooltip: '' },
    { key: 'client', label: 'Client', placeholder: 'all clients', tooltip: '' },
    { key: 'policy', label: 'Policy', placeholder: 'all policies', tooltip: 'keep only runs, or rows, of this policy' },
    { key: 'priority', label: 'Priority', placeholder: 'all', tooltip: 'all, urgent or normal (Stats)' },
    { key: 'kind', label: 'Kind', placeholder: 'all kinds', tooltip: 'result, trace or comparison (Runs)' },
  ];

  class VariableSupport extends data.DataSourceVariableSupport {}

  class DataSource extends runtime.DataSourceWithBackend {
    constructor(settings) {
      super(settings);
      // A dashboard variable runs a query of this data source (the Runs
      // query lists run names in its first field).
      this.variables = new VariableSupport();
    }

    getDefaultQuery() {
      return { queryType: 'series', metric: 'queued' };
    }

    applyTemplateVariables(query, scopedVars) {
      var srv = runtime.getTemplateSrv();
      var out = Object.assign({}, query);
      textFields.forEach(function (f) {
        if (typeof out[f.key] === 'string') {
          out[f.key] = srv.replace(out[f.key], scopedVars);
        }
      });
      return out;
    }
  }

  function ConfigEditor(props) {
    var options = props.options;
    var jsonData = options.jsonData || {};
    return h(
      ui.InlineField,
      {
        label: 'Path',
        labelWidth: 14,
        tooltip: 'The folder, as the Grafana server sees it, that holds the outputs of ocluster-sim run --out, compare --out and --trace. Save & test reports what it holds.',
      },
      h(ui.Input, {
        width: 60,
        value: jsonData.path || '',
        placeholder: '/var/lib/ocluster-sim',
        onChange: function (e) {
          props.onOptionsChange(Object.assign({}, options, {
            jsonData: Object.assign({}, jsonData, { path: e.currentTarget.value }),
          }));
        },
      })
    );
  }

  function QueryEditor(props) {
    var query = props.query;
    function set(key, value) {
      var next = Object.assign({}, query);
      next[key] = value;
      props.onChange(next);
    }
    var rows = [
      h(
        ui.InlineField,
        { key: 'queryType', label: 'Query', labelWidth: 14 },
        h(ui.Select, {
          width: 30,
          options: queryTypes,
          value: query.queryType || 'series',
          onChange: function (option) {
            set('queryType', option.value);
            props.onRunQuery();
          },
        })
      ),
    ];
    textFields.forEach(function (f) {
      rows.push(
        h(
          ui.InlineField,
          { key: f.key, label: f.label, labelWidth: 14, tooltip: f.tooltip || undefined },
          h(ui.Input, {
            width: 40,
            value: query[f.key] || '',
            placeholder: f.placeholder,
            onChange: function (e) {
              set(f.key, e.currentTarget.value);
            },
            onBlur: function () {
              props.onRunQuery();
            },
          })
        )
      );
    });
    return h('div', null, rows);
  }

  return {
    plugin: new data.DataSourcePlugin(DataSource).setConfigEditor(ConfigEditor).setQueryEditor(QueryEditor),
  };
});
