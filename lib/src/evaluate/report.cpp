// vr-evaluate --report: one self-contained HTML page (inline CSS, inline SVG drawn here, no
// network, no external script) and the same numbers as JSON.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <limits>
#include <sstream>

#include "vr/atomic_file.h"
#include "vr/evaluate.h"
#include "vr/popularity_penalty.h"

namespace vr {
namespace {

constexpr const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"};
constexpr const char* kBaselineColour = "#7f7f7f";

std::string escaped(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string number(double value, int precision = 4) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(precision) << value;
  return out.str();
}

// A "nice" axis maximum at or above `value`.
double nice_ceiling(double value) {
  if (!(value > 0)) return 1.0;
  const double magnitude = std::pow(10.0, std::floor(std::log10(value)));
  for (const double step : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (step * magnitude >= value) return step * magnitude;
  }
  return 10.0 * magnitude;
}

struct Series {
  std::string name;
  std::string colour;
  std::vector<double> x;
  std::vector<double> y;
  bool lines = true;  // false: markers only (scatter)
};

// The frame of every chart: plot area, axes with ticks and labels, legend.
struct Frame {
  double width = 420, height = 260, left = 56, right = 12, top = 28, bottom = 44;
  double x_min = 0, x_max = 1, y_min = 0, y_max = 1;
  bool log_x = false;
  double px(double x) const {
    const double lo = log_x ? std::log10(x_min) : x_min, hi = log_x ? std::log10(x_max) : x_max;
    const double v = log_x ? std::log10(x) : x;
    return left + (hi > lo ? (v - lo) / (hi - lo) : 0.5) * (width - left - right);
  }
  double py(double y) const {
    return top + (1.0 - (y_max > y_min ? (y - y_min) / (y_max - y_min) : 0.5)) * (height - top - bottom);
  }
};

std::string open_svg(const Frame& frame, const std::string& title, const std::string& x_label,
                     const std::string& y_label, const std::vector<double>& x_ticks) {
  std::ostringstream svg;
  svg << "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" << frame.width << "\" height=\""
      << frame.height << "\" viewBox=\"0 0 " << frame.width << " " << frame.height << "\" role=\"img\" aria-label=\""
      << escaped(title) << "\">\n<title>" << escaped(title) << "</title>\n";
  svg << "<text x=\"" << frame.width / 2 << "\" y=\"16\" text-anchor=\"middle\" class=\"title\">" << escaped(title)
      << "</text>\n";
  const double x0 = frame.left, x1 = frame.width - frame.right, y0 = frame.top, y1 = frame.height - frame.bottom;
  for (int tick = 0; tick <= 4; ++tick) {
    const double value = frame.y_min + (frame.y_max - frame.y_min) * tick / 4.0;
    const double y = frame.py(value);
    svg << "<line class=\"grid\" x1=\"" << x0 << "\" y1=\"" << y << "\" x2=\"" << x1 << "\" y2=\"" << y << "\"/>"
        << "<text x=\"" << x0 - 4 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\">"
        << number(value, std::clamp(1 - static_cast<int>(std::floor(std::log10((frame.y_max - frame.y_min) / 4))), 0, 5))
        << "</text>\n";
  }
  for (const double value : x_ticks) {
    const double x = frame.px(value);
    std::ostringstream label;
    label << value;
    svg << "<line class=\"axis\" x1=\"" << x << "\" y1=\"" << y1 << "\" x2=\"" << x << "\" y2=\"" << y1 + 4 << "\"/>"
        << "<text x=\"" << x << "\" y=\"" << y1 + 16 << "\" text-anchor=\"middle\">" << escaped(label.str())
        << "</text>\n";
  }
  svg << "<line class=\"axis\" x1=\"" << x0 << "\" y1=\"" << y1 << "\" x2=\"" << x1 << "\" y2=\"" << y1 << "\"/>"
      << "<line class=\"axis\" x1=\"" << x0 << "\" y1=\"" << y0 << "\" x2=\"" << x0 << "\" y2=\"" << y1 << "\"/>\n";
  svg << "<text x=\"" << (x0 + x1) / 2 << "\" y=\"" << frame.height - 6 << "\" text-anchor=\"middle\">"
      << escaped(x_label) << "</text>\n";
  svg << "<text transform=\"translate(12," << (y0 + y1) / 2 << ") rotate(-90)\" text-anchor=\"middle\">"
      << escaped(y_label) << "</text>\n";
  return svg.str();
}

std::string legend(const Frame& frame, const std::vector<std::pair<std::string, std::string>>& entries) {
  std::ostringstream svg;
  double y = frame.top + 4;
  for (const auto& [name, colour] : entries) {
    const double x = frame.width - frame.right - 110;
    svg << "<rect x=\"" << x << "\" y=\"" << y << "\" width=\"10\" height=\"10\" fill=\"" << colour << "\"/>"
        << "<text x=\"" << x + 14 << "\" y=\"" << y + 9 << "\">" << escaped(name) << "</text>\n";
    y += 14;
  }
  return svg.str();
}

// `from_zero`: the y axis starts at 0 (metrics); otherwise it spans the data (loss, trials).
std::string line_chart(const std::string& title, const std::string& x_label, const std::string& y_label,
                       const std::vector<Series>& series, bool log_x = false, bool from_zero = true) {
  Frame frame;
  frame.log_x = log_x;
  frame.x_min = std::numeric_limits<double>::infinity();
  frame.x_max = -std::numeric_limits<double>::infinity();
  double y_high = 0, y_low = std::numeric_limits<double>::infinity();
  for (const auto& one : series) {
    for (std::size_t i = 0; i < one.x.size(); ++i) {
      frame.x_min = std::min(frame.x_min, one.x[i]);
      frame.x_max = std::max(frame.x_max, one.x[i]);
      y_high = std::max(y_high, one.y[i]);
      y_low = std::min(y_low, one.y[i]);
    }
  }
  if (!std::isfinite(frame.x_min)) frame.x_min = 0, frame.x_max = 1;
  if (frame.x_max == frame.x_min) frame.x_max = frame.x_min + 1;
  if (from_zero || !std::isfinite(y_low)) {
    frame.y_max = std::min(nice_ceiling(y_high * 1.05), y_high <= 1.0 ? 1.0 : std::numeric_limits<double>::infinity());
  } else {
    const double margin = std::max((y_high - y_low) * 0.1, std::abs(y_high) * 1e-3 + 1e-12);
    frame.y_min = y_low - margin;
    frame.y_max = y_high + margin;
  }
  std::vector<double> x_ticks;
  if (log_x) {
    for (double tick = std::pow(10.0, std::floor(std::log10(frame.x_min))); tick <= frame.x_max * 1.0001; tick *= 10) {
      if (tick >= frame.x_min * 0.9999) x_ticks.push_back(tick);
    }
  } else {
    const double span = frame.x_max - frame.x_min;
    const double step = std::max(1.0, std::ceil(nice_ceiling(span / 6)));
    for (double tick = std::ceil(frame.x_min / step) * step; tick <= frame.x_max + 1e-9; tick += step) x_ticks.push_back(tick);
  }
  std::ostringstream svg;
  svg << open_svg(frame, title, x_label, y_label, x_ticks);
  std::vector<std::pair<std::string, std::string>> entries;
  for (const auto& one : series) {
    entries.emplace_back(one.name, one.colour);
    if (one.lines && one.x.size() > 1) {
      svg << "<polyline class=\"series\" fill=\"none\" stroke=\"" << one.colour << "\" stroke-width=\"2\" points=\"";
      for (std::size_t i = 0; i < one.x.size(); ++i) svg << frame.px(one.x[i]) << "," << frame.py(one.y[i]) << " ";
      svg << "\"/>\n";
    }
    for (std::size_t i = 0; i < one.x.size(); ++i) {
      svg << "<circle cx=\"" << frame.px(one.x[i]) << "\" cy=\"" << frame.py(one.y[i]) << "\" r=\""
          << (one.lines ? 2 : 4) << "\" fill=\"" << one.colour << "\"><title>" << escaped(one.name) << ": "
          << one.x[i] << ", " << number(one.y[i]) << "</title></circle>\n";
    }
  }
  svg << legend(frame, entries) << "</svg>\n";
  return svg.str();
}

std::string bar_chart(const std::string& title, const std::string& x_label, const std::string& y_label,
                      const std::vector<std::string>& categories, const std::vector<Series>& series) {
  Frame frame;
  frame.width = 640;
  frame.x_min = 0;
  frame.x_max = static_cast<double>(categories.size());
  double y_high = 0;
  for (const auto& one : series) {
    for (const double y : one.y) y_high = std::max(y_high, y);
  }
  frame.y_max = std::min(nice_ceiling(y_high * 1.05), 1.0);
  std::ostringstream svg;
  svg << open_svg(frame, title, x_label, y_label, {});
  const double slot = (frame.px(1) - frame.px(0));
  const double bar = slot * 0.8 / std::max<std::size_t>(1, series.size());
  std::vector<std::pair<std::string, std::string>> entries;
  for (std::size_t s = 0; s < series.size(); ++s) {
    entries.emplace_back(series[s].name, series[s].colour);
    for (std::size_t c = 0; c < categories.size() && c < series[s].y.size(); ++c) {
      const double x = frame.px(static_cast<double>(c)) + slot * 0.1 + bar * static_cast<double>(s);
      const double y = frame.py(series[s].y[c]);
      svg << "<rect class=\"bar\" x=\"" << x << "\" y=\"" << y << "\" width=\"" << bar << "\" height=\""
          << frame.py(0) - y << "\" fill=\"" << series[s].colour << "\"><title>" << escaped(series[s].name) << ", "
          << escaped(categories[c]) << ": " << number(series[s].y[c]) << "</title></rect>\n";
    }
  }
  for (std::size_t c = 0; c < categories.size(); ++c) {
    svg << "<text x=\"" << frame.px(c + 0.5) << "\" y=\"" << frame.py(0) + 16 << "\" text-anchor=\"middle\">"
        << escaped(categories[c]) << "</text>\n";
  }
  svg << legend(frame, entries) << "</svg>\n";
  return svg.str();
}

// Every evaluated list in the order the charts show them, with its colour.
std::vector<std::pair<const ModelEvaluation*, std::string>> coloured_models(const EvaluationReport& report) {
  std::vector<std::pair<const ModelEvaluation*, std::string>> all;
  std::size_t colour = 0;
  for (const auto& model : report.models) all.emplace_back(&model, kPalette[colour++ % std::size(kPalette)]);
  if (report.defaults) all.emplace_back(&*report.defaults, kPalette[colour++ % std::size(kPalette)]);
  all.emplace_back(&report.baseline, kBaselineColour);
  return all;
}

std::string display_name(const EvaluationReport& report, const ModelEvaluation& model) {
  if (report.tuning && model.name == "als") return "als (tuned)";
  if (model.name == "als-defaults") return "als (defaults)";
  return model.name;
}

std::string html_page(const EvaluationReport& report) {
  std::ostringstream html;
  const auto all = coloured_models(report);
  html << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
       << "<title>vr-evaluate report</title>\n<style>\n"
       << "body{font-family:sans-serif;margin:24px;color:#222;max-width:1400px}\n"
       << "h1{font-size:22px}h2{font-size:18px;margin-top:28px}\n"
       << "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\n"
       << "th:first-child,td:first-child{text-align:left}\n"
       << "svg.chart{margin:6px;background:#fff;border:1px solid #ddd;font-size:11px}\n"
       << "svg .title{font-size:13px;font-weight:bold}svg .grid{stroke:#eee}svg .axis{stroke:#444}\n"
       << ".note{color:#555;font-size:13px}\n</style>\n"
       // A script error anywhere on the page leaves a visible marker, which the test looks for.
       << "<script>window.onerror=function(m){var d=document.createElement('div');d.id='script-error';"
       << "d.textContent='script error: '+m;document.body.appendChild(d);};</script>\n"
       << "</head>\n<body>\n<h1>vr-evaluate report</h1>\n";
  const auto& split = report.split;
  html << "<p class=\"note\">Split " << escaped(to_string(split.config.method));
  if (split.given) {
    html << " (train and test files; " << split.given->test_only_users << " users only in the test file skipped)";
  } else if (split.config.method != SplitMethod::LeaveLastOut) {
    html << ", test ratio " << split.config.test_ratio;
  }
  html << "; " << split.users << " users &times; " << split.videos << " videos, " << split.train_ratings << " train / "
       << split.test_ratings << " test ratings, " << split.users_evaluated
       << " users evaluated. Top K over all videos minus each user's training videos; binary relevance.</p>\n";

  html << "<h2>Metrics</h2>\n<table id=\"metrics\"><tr><th>metric</th>";
  for (const auto& [model, colour] : all) html << "<th>" << escaped(display_name(report, *model)) << "</th>";
  html << "</tr>\n";
  for (std::size_t i = 0; i < report.cutoffs.size(); ++i) {
    const std::string at = "@" + std::to_string(report.cutoffs[i]);
    const std::pair<const char*, double RankingMetrics::*> rows[] = {
        {"precision", &RankingMetrics::precision}, {"recall", &RankingMetrics::recall},
        {"ndcg", &RankingMetrics::ndcg},           {"map", &RankingMetrics::map},
        {"hit_rate", &RankingMetrics::hit_rate},   {"coverage", &RankingMetrics::coverage}};
    for (const auto& [name, field] : rows) {
      html << "<tr><td>" << name << at << "</td>";
      for (const auto& [model, colour] : all) html << "<td>" << number(model->metrics.at_k[i].*field) << "</td>";
      html << "</tr>\n";
    }
  }
  html << "<tr><td>train seconds</td>";
  for (const auto& [model, colour] : all) html << "<td>" << number(model->train_seconds, 2) << "</td>";
  html << "</tr>\n</table>\n";
  const auto& train = report.train;
  html << "<p class=\"note\">ALS" << (report.tuning ? " (tuned)" : "") << ": factors " << train.factors
       << ", regularization " << train.regularization << ", alpha " << train.alpha << ", iterations "
       << train.iterations << ", scaling " << escaped(to_string(train.scaling)) << ", seed " << train.seed << ".</p>\n";

  html << "<h2>Quality against K</h2>\n<div id=\"curves\">\n";
  const std::pair<const char*, double RankingMetrics::*> curves[] = {
      {"precision", &RankingMetrics::precision}, {"recall", &RankingMetrics::recall}, {"nDCG", &RankingMetrics::ndcg}};
  for (const auto& [name, field] : curves) {
    std::vector<Series> series;
    for (const auto& [model, colour] : all) {
      Series one{display_name(report, *model), colour, {}, {}, true};
      for (const auto& metrics : model->curve) {
        one.x.push_back(metrics.k);
        one.y.push_back(metrics.*field);
      }
      series.push_back(one);
    }
    html << line_chart(std::string(name) + "@K", "K", name, series);
  }
  html << "</div>\n";

  html << "<h2>Training loss</h2>\n";
  if (report.loss_history.empty()) {
    html << "<p class=\"note\">No ALS model was trained, so there is no loss curve.</p>\n";
  } else {
    Series loss{"ALS training loss", kPalette[0], {}, {}, true};
    for (std::size_t i = 0; i < report.loss_history.size(); ++i) {
      loss.x.push_back(static_cast<double>(i + 1));
      loss.y.push_back(report.loss_history[i]);
    }
    html << line_chart("Training loss per iteration", "iteration", "loss", {loss}, false, false);
  }

  html << "<h2>Tuning trials</h2>\n";
  if (!report.tuning) {
    html << "<p class=\"note\">No tuning in this run (vr-evaluate --tune searches the ALS hyperparameters).</p>\n";
  } else {
    const auto& tuning = *report.tuning;
    Series random{"random", kPalette[0], {}, {}, false}, refined{"refinement", kPalette[1], {}, {}, false};
    Series by_regularization{"trials", kPalette[2], {}, {}, false};
    for (const auto& trial : tuning.trials) {
      (trial.refinement ? refined : random).x.push_back(trial.number);
      (trial.refinement ? refined : random).y.push_back(trial.validation_ndcg);
      by_regularization.x.push_back(std::max(1e-3, static_cast<double>(trial.config.regularization)));
      by_regularization.y.push_back(trial.validation_ndcg);
    }
    const std::string metric = "validation nDCG@" + std::to_string(tuning.k);
    html << "<div id=\"tuning\">" << line_chart("Trials in order", "trial", metric, {random, refined}, false, false)
         << line_chart("Trials by regularization", "regularization (log scale)", metric, {by_regularization}, true, false)
         << "</div>\n";
    html << "<table id=\"trials\"><tr><th>trial</th><th>factors</th><th>regularization</th><th>alpha</th>"
         << "<th>iterations</th><th>scaling</th><th>" << escaped(metric) << "</th><th>seconds</th></tr>\n";
    for (const auto& trial : tuning.trials) {
      const bool best = trial.validation_ndcg == tuning.best_validation_ndcg;
      html << "<tr" << (best ? " style=\"font-weight:bold\"" : "") << "><td>" << trial.number
           << (trial.refinement ? " (refine)" : "") << "</td><td>" << trial.config.factors << "</td><td>"
           << trial.config.regularization << "</td><td>" << trial.config.alpha << "</td><td>"
           << trial.config.iterations << "</td><td>" << escaped(to_string(trial.config.scaling));
      if (trial.config.scaling == ConfidenceScaling::Log) html << " (eps " << trial.config.eps << ")";
      html << "</td><td>" << number(trial.validation_ndcg) << "</td><td>" << number(trial.seconds, 2) << "</td></tr>\n";
    }
    html << "</table>\n";
  }

  html << "<h2>Popularity of recommended videos</h2>\n<p class=\"note\">Videos ranked by training popularity "
       << "and cut into ten equal groups (1 = the most popular tenth). Grey bars: each group's share of all training "
       << "interactions; coloured bars: its share of the top-" << report.report_depth
       << " lists. Long-tail coverage: share of the videos outside the most popular 20% that reach anyone's top-"
       << report.report_depth << ".</p>\n";
  {
    std::vector<std::string> categories;
    for (int decile = 1; decile <= 10; ++decile) categories.push_back(std::to_string(decile));
    std::vector<Series> series{Series{"catalog", "#bbbbbb", {}, report.catalog_shares, true}};
    for (const auto& [model, colour] : all) {
      series.push_back(Series{display_name(report, *model), colour, {}, model->popularity_shares, true});
    }
    html << bar_chart("Share per popularity decile", "popularity decile (1 = most popular)", "share", categories, series);
    html << "<table id=\"long-tail\"><tr><th>list</th><th>long-tail coverage</th></tr>\n";
    for (const auto& [model, colour] : all) {
      html << "<tr><td>" << escaped(display_name(report, *model)) << "</td><td>" << number(model->long_tail_coverage)
           << "</td></tr>\n";
    }
    html << "</table>\n";
  }
  if (std::any_of(report.models.begin(), report.models.end(),
                  [](const ModelEvaluation& model) { return !model.penalties.empty(); })) {
    html << "<h2>Popularity penalty</h2>\n<p class=\"note\">Each model re-ranked by "
         << escaped(kPopularityPenaltyFormula) << "; beta 0 is its own ranking. Long-tail coverage@K: share of the "
         << "videos outside the most popular 20% that reach anyone's top K.</p>\n"
         << "<table id=\"popularity-penalty\"><tr><th>model</th><th>beta</th>";
    for (const int k : report.cutoffs) {
      const std::string at = "@" + std::to_string(k);
      html << "<th>ndcg" << at << "</th><th>coverage" << at << "</th><th>long-tail coverage" << at << "</th>";
    }
    html << "</tr>\n";
    for (const auto& model : report.models) {
      for (const auto& penalty : model.penalties) {
        html << "<tr><td>" << escaped(display_name(report, model)) << "</td><td>" << penalty.beta << "</td>";
        for (std::size_t i = 0; i < report.cutoffs.size(); ++i) {
          html << "<td>" << number(penalty.metrics.at_k[i].ndcg) << "</td><td>" << number(penalty.metrics.at_k[i].coverage)
               << "</td><td>" << number(penalty.long_tail_coverage[i]) << "</td>";
        }
        html << "</tr>\n";
      }
    }
    html << "</table>\n";
  }
  html << "<script>document.body.setAttribute('data-rendered', document.querySelectorAll('svg').length);</script>\n"
       << "</body>\n</html>\n";
  return html.str();
}

}  // namespace

void write_html_report(const std::string& directory, const EvaluationReport& report) {
  ensure_directory(directory);
  const std::filesystem::path folder(directory);
  {
    AtomicFileWriter html((folder / "report.html").string());
    html.stream() << html_page(report);
    html.commit();
  }
  AtomicFileWriter json((folder / "report.json").string());
  json.stream() << report_json_text(report, true);
  json.commit();
}

}  // namespace vr
