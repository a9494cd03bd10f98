--[[ Numbered, linked cross-references for pandoc 2.17 and 3.x (HTML and LaTeX).

Targets: level-1 headers (sections; class "appendix" gives letters, "unnumbered" none),
figures `![caption](path){#fig:name}`, tables with `Table: caption {#tab:name}` and display
equations `$$ ... $$ {#eq:name}`. A figure, table or equation may set its number with
`number=N` (later ones count on from it). References `@fig:name`, `@tab:name`, `@eq:name`,
`@sec:name` become links reading "Figure 3", "Table 2", "Eq. (4)", "Section 6"; several in
one bracket, `[@fig:a; @fig:b]`, read "Figures 6 and 7". A number may carry a letter
(`number=7a`: Figure 7a; the next unlettered figure is 8). Other citations are left to
citeproc, which runs after this filter. An unknown label stops the build, naming it.

In the PDF, a table shorter than a page becomes a float (a table at the top of a page, never
split; a longer one stays a longtable), and figures and tables stay in the subsection that
shows them (\FloatBarrier before each heading).
]]

local KINDS = {
  fig = {name = "Figure", plural = "Figures"},
  tab = {name = "Table", plural = "Tables"},
  eq = {name = "Eq.", plural = "Eqs."},
  sec = {name = "Section", plural = "Sections"},
}
local labels = {}     -- id -> {kind = "fig", number = "3"}
local counters = {fig = 0, tab = 0, eq = 0, sec = 0, appendix = 0}
local latex = FORMAT:match("latex") ~= nil

local function register(id, kind, number_attr)
  if labels[id] then error("crossref: label '" .. id .. "' defined twice") end
  local label
  if number_attr and number_attr ~= "" then
    local digits = number_attr:match("^(%d+)%a?$")
    if not digits then error("crossref: " .. id .. " has number=" .. number_attr ..
                             "; a number is digits, optionally followed by one letter") end
    counters[kind] = tonumber(digits)
    label = number_attr
  else
    counters[kind] = counters[kind] + 1
    label = tostring(counters[kind])
  end
  labels[id] = {kind = kind, number = label}
  return label
end

local function raw(text) return pandoc.RawInline("latex", text) end

-- "{#tab:name}" or "{#eq:name}" as the last Str of a list of inlines: the id, and the list
-- without it (and without the space before it).
local function trailing_id(inlines, prefix)
  local last = inlines[#inlines]
  if not last or last.t ~= "Str" then return nil end
  local id = last.text:match("^{#(" .. prefix .. ":[%w_%-]+)}$")
  if not id then return nil end
  inlines:remove(#inlines)
  while #inlines > 0 and (inlines[#inlines].t == "Space" or inlines[#inlines].t == "SoftBreak") do
    inlines:remove(#inlines)
  end
  return id
end

local function caption_prefix(kind, number)
  return {pandoc.Strong({pandoc.Str(KINDS[kind].name), pandoc.Str("\u{a0}" .. number .. ".")}),
          pandoc.Space()}
end

-- Pass 1: number every target and write its label into the document.

local function number_header(h)
  if h.level ~= 1 or h.classes:includes("unnumbered") then return nil end
  local label
  if h.classes:includes("appendix") then
    counters.appendix = counters.appendix + 1
    label = string.char(64 + counters.appendix)
    h.content = pandoc.List({pandoc.Str("Appendix"), pandoc.Space(),
                             pandoc.Str(label .. ":"), pandoc.Space()}) .. h.content
  else
    counters.sec = counters.sec + 1
    label = tostring(counters.sec)
    h.content = pandoc.List({pandoc.Str(label), pandoc.Space()}) .. h.content
  end
  if h.identifier ~= "" then labels[h.identifier] = {kind = "sec", number = label,
                                                     appendix = h.classes:includes("appendix")} end
  return h
end

local function number_figure_caption(id, number_attr, inlines)
  local number = register(id, "fig", number_attr)
  local out = pandoc.List(caption_prefix("fig", number)) .. inlines
  if latex then out:insert(raw("\\label{" .. id .. "}")) end
  return out
end

-- pandoc 3: a Figure block.
local function number_figure3(fig)
  if not fig.identifier:match("^fig:") then return nil end
  local image
  pandoc.walk_block(fig, {Image = function(img) image = image or img end})
  local number_attr = image and image.attributes["number"]
  local caption = fig.caption.long[1]
  caption.content = number_figure_caption(fig.identifier, number_attr, caption.content)
  if latex then fig.identifier = "" end
  return fig
end

-- pandoc 2: a paragraph holding one image whose title starts "fig:".
local function number_figure2(para)
  if #para.content ~= 1 or para.content[1].t ~= "Image" then return nil end
  local img = para.content[1]
  if not img.identifier:match("^fig:") then return nil end
  img.caption = number_figure_caption(img.identifier, img.attributes["number"], img.caption)
  if latex then img.identifier = "" end
  return para
end

local function number_table(tbl)
  local plain = tbl.caption.long[1]
  local id = tbl.identifier
  if plain then
    local found = trailing_id(plain.content, "tab")
    id = found or id
  end
  if not id or not id:match("^tab:") then return nil end
  local number = register(id, "tab", tbl.attributes and tbl.attributes["number"])
  local content = pandoc.List(caption_prefix("tab", number)) .. (plain and plain.content or {})
  if latex then
    content:insert(raw("\\label{" .. id .. "}"))
    tbl.identifier = ""
  else
    tbl.identifier = id
  end
  tbl.caption.long = {pandoc.Plain(content)}
  return tbl
end

-- Last pass (references inside are links by now): a short table becomes a LaTeX float.
local function float_short_table(tbl)
  if not latex then return nil end
  local rows = 0
  for _, body in ipairs(tbl.bodies) do rows = rows + #body.body end
  if 2 * rows + 8 > 45 then return nil end  -- longer than a page: a longtable, which splits
  return pandoc.RawBlock("latex", table_float(pandoc.write(pandoc.Pandoc({tbl}), "latex")))
end

-- A table shorter than a page as a float (LaTeX's table at the top of a page, never split)
-- instead of pandoc's longtable: the same columns, rows and caption, its head once.
function table_float(longtable)
  local function cut(text, from, to)
    local i = text:find(from, 1, true)
    local _, j = text:find(to, i or 1, true)
    if not i or not j then return text end
    return text:sub(1, i - 1) .. text:sub(j + 1)
  end
  local text = longtable
  local cap_start = text:find("\\caption{", 1, true)
  local _, cap_end = text:find("}\\tabularnewline", cap_start, true)
  local caption = text:sub(cap_start, cap_end - #"\\tabularnewline")
  text = text:sub(1, cap_start - 1) .. text:sub(cap_end + 1)
  text = cut(text, "\\endfirsthead", "\\endhead")           -- the head repeated on new pages
  text = cut(text, "\\bottomrule\\noalign{}\n\\endlastfoot", "\\endlastfoot")  -- pandoc 3
  text = text:gsub("\\begin{longtable}%[[^%]]*%]", "\\begin{tabular}")
  if not text:find("\\bottomrule", 1, true) then
    text = text:gsub("\\end{longtable}", "\\bottomrule\n\\end{longtable}")
  end
  text = text:gsub("\\end{longtable}", "\\end{tabular}")
  text = text:gsub("\n%s*\n", "\n"):gsub("\n%s*\n", "\n")  -- no paragraph inside tabular
  return "\\begin{table}[tp]\n\\centering\\footnotesize\n" .. caption .. "\n" .. text ..
         "\\end{table}"
end

local function barrier(h)
  if latex and h.level <= 2 then return {pandoc.RawBlock("latex", "\\FloatBarrier"), h} end
end

-- A paragraph that is one display equation followed by {#eq:name}.
local function number_equation(para)
  local c = para.content
  local id = trailing_id(c, "eq")
  if not id then return nil end
  if #c ~= 1 or c[1].t ~= "Math" or c[1].mathtype ~= "DisplayMath" then
    error("crossref: {#" .. id .. "} must follow a display equation alone in its paragraph")
  end
  local number = register(id, "eq", nil)
  if latex then
    return pandoc.Para({raw("\\begin{equation}\\tag{" .. number .. "}\\label{" .. id .. "}"
                            .. c[1].text .. "\\end{equation}")})
  end
  return pandoc.Div({pandoc.Para({c[1]}),
                     pandoc.Para({pandoc.Str("(" .. number .. ")")})},
                    pandoc.Attr(id, {"equation"}))
end

-- Pass 2: references.

local function reference_text(cites)
  local kind, numbers, appendix = nil, {}, false
  for _, citation in ipairs(cites) do
    local target = labels[citation.id]
    if not target then return nil end
    kind = kind or target.kind
    appendix = appendix or target.appendix
    table.insert(numbers, {id = citation.id, number = target.number})
  end
  local word = appendix and "Appendix" or KINDS[kind].name
  if #numbers > 1 then word = appendix and "Appendices" or KINDS[kind].plural end
  return word, numbers, kind
end

local function link(id, text)
  if latex then return raw("\\hyperref[" .. id .. "]{" .. text .. "}") end
  return pandoc.Link({pandoc.Str(text)}, "#" .. id)
end

local function resolve(cite)
  local known = false
  for _, citation in ipairs(cite.citations) do
    local prefix = citation.id:match("^(%a+):")
    if prefix and KINDS[prefix] then known = true end
  end
  if not known then return nil end
  local word, numbers, kind = reference_text(cite.citations)
  if not word then
    for _, citation in ipairs(cite.citations) do
      if not labels[citation.id] then
        error("crossref: no figure, table, equation or section is labelled '" ..
              citation.id .. "'")
      end
    end
  end
  local function shown(n) return kind == "eq" and "(" .. n.number .. ")" or n.number end
  local out = pandoc.List()
  local nbsp = "\u{a0}"
  if #numbers == 1 then
    out:insert(link(numbers[1].id, word .. nbsp .. shown(numbers[1])))
    return out
  end
  out:insert(pandoc.Str(word .. nbsp))
  for i, n in ipairs(numbers) do
    if i > 1 then
      out:insert(pandoc.Str(i == #numbers and nbsp .. "and" or ","))
      out:insert(pandoc.Space())
    end
    out:insert(link(n.id, shown(n)))
  end
  return out
end

-- pandoc 2's MathML makes every bracket stretchy, and Chromium then sets "p(x)" as
-- "p ( x )". A bracket written {(} is not stretchy: in the HTML made by pandoc 2, plain
-- brackets become that, while those after \left, \right or \big... still stretch.
local SIZED = {left = true, right = true, big = true, Big = true, bigg = true, Bigg = true,
               bigl = true, bigr = true, Bigl = true, Bigr = true, biggl = true,
               biggr = true, Biggl = true, Biggr = true}

local function tight_brackets(math)
  local tex, out, i = math.text, {}, 1
  while i <= #tex do
    local c = tex:sub(i, i)
    if c == "\\" then
      local name = tex:match("^%a+", i + 1)
      if name then
        out[#out + 1] = "\\" .. name
        i = i + 1 + #name
        if SIZED[name] then  -- its delimiter, as written
          local space = tex:match("^%s*", i)
          out[#out + 1] = space .. tex:sub(i + #space, i + #space)
          i = i + #space + 1
        end
      else
        out[#out + 1] = tex:sub(i, i + 1)  -- an escaped character: \{, \|, \,
        i = i + 2
      end
    elseif c == "(" or c == ")" or c == "[" or c == "]" then
      out[#out + 1] = "{" .. c .. "}"
      i = i + 1
    else
      out[#out + 1] = c
      i = i + 1
    end
  end
  math.text = table.concat(out)
  return math
end

local old_mathml = not latex and PANDOC_VERSION < {3}

return {
  {Math = old_mathml and tight_brackets or nil},
  {Header = number_header, Figure = number_figure3, Table = number_table},
  {Header = barrier},
  {Para = function(para) return number_figure2(para) or number_equation(para) end},
  {Cite = resolve},
  {Table = float_short_table},
}
