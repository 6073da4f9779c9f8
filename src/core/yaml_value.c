/* yaml_value — see yaml_value.h.
 *
 * The emitter is a port of the parts of go-yaml v4's emitter (internal/libyaml/emitter.go) that
 * a block-style document without comments, anchors or tags can reach. State names follow it
 * (column, whitespace, indention, indent) so the two can be compared line by line. */
#include "core/yaml_value.h"
#include "core/memory.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Generated from Python unicodedata 14.0.0: code points >= 0x80 in categories L* and Nd. */
static const uint32_t unicode_letter_ranges[][2] = {
    {0xaa, 0xaa},       {0xb5, 0xb5},       {0xba, 0xba},       {0xc0, 0xd6},       {0xd8, 0xf6},
    {0xf8, 0x2c1},      {0x2c6, 0x2d1},     {0x2e0, 0x2e4},     {0x2ec, 0x2ec},     {0x2ee, 0x2ee},
    {0x370, 0x374},     {0x376, 0x377},     {0x37a, 0x37d},     {0x37f, 0x37f},     {0x386, 0x386},
    {0x388, 0x38a},     {0x38c, 0x38c},     {0x38e, 0x3a1},     {0x3a3, 0x3f5},     {0x3f7, 0x481},
    {0x48a, 0x52f},     {0x531, 0x556},     {0x559, 0x559},     {0x560, 0x588},     {0x5d0, 0x5ea},
    {0x5ef, 0x5f2},     {0x620, 0x64a},     {0x66e, 0x66f},     {0x671, 0x6d3},     {0x6d5, 0x6d5},
    {0x6e5, 0x6e6},     {0x6ee, 0x6ef},     {0x6fa, 0x6fc},     {0x6ff, 0x6ff},     {0x710, 0x710},
    {0x712, 0x72f},     {0x74d, 0x7a5},     {0x7b1, 0x7b1},     {0x7ca, 0x7ea},     {0x7f4, 0x7f5},
    {0x7fa, 0x7fa},     {0x800, 0x815},     {0x81a, 0x81a},     {0x824, 0x824},     {0x828, 0x828},
    {0x840, 0x858},     {0x860, 0x86a},     {0x870, 0x887},     {0x889, 0x88e},     {0x8a0, 0x8c9},
    {0x904, 0x939},     {0x93d, 0x93d},     {0x950, 0x950},     {0x958, 0x961},     {0x971, 0x980},
    {0x985, 0x98c},     {0x98f, 0x990},     {0x993, 0x9a8},     {0x9aa, 0x9b0},     {0x9b2, 0x9b2},
    {0x9b6, 0x9b9},     {0x9bd, 0x9bd},     {0x9ce, 0x9ce},     {0x9dc, 0x9dd},     {0x9df, 0x9e1},
    {0x9f0, 0x9f1},     {0x9fc, 0x9fc},     {0xa05, 0xa0a},     {0xa0f, 0xa10},     {0xa13, 0xa28},
    {0xa2a, 0xa30},     {0xa32, 0xa33},     {0xa35, 0xa36},     {0xa38, 0xa39},     {0xa59, 0xa5c},
    {0xa5e, 0xa5e},     {0xa72, 0xa74},     {0xa85, 0xa8d},     {0xa8f, 0xa91},     {0xa93, 0xaa8},
    {0xaaa, 0xab0},     {0xab2, 0xab3},     {0xab5, 0xab9},     {0xabd, 0xabd},     {0xad0, 0xad0},
    {0xae0, 0xae1},     {0xaf9, 0xaf9},     {0xb05, 0xb0c},     {0xb0f, 0xb10},     {0xb13, 0xb28},
    {0xb2a, 0xb30},     {0xb32, 0xb33},     {0xb35, 0xb39},     {0xb3d, 0xb3d},     {0xb5c, 0xb5d},
    {0xb5f, 0xb61},     {0xb71, 0xb71},     {0xb83, 0xb83},     {0xb85, 0xb8a},     {0xb8e, 0xb90},
    {0xb92, 0xb95},     {0xb99, 0xb9a},     {0xb9c, 0xb9c},     {0xb9e, 0xb9f},     {0xba3, 0xba4},
    {0xba8, 0xbaa},     {0xbae, 0xbb9},     {0xbd0, 0xbd0},     {0xc05, 0xc0c},     {0xc0e, 0xc10},
    {0xc12, 0xc28},     {0xc2a, 0xc39},     {0xc3d, 0xc3d},     {0xc58, 0xc5a},     {0xc5d, 0xc5d},
    {0xc60, 0xc61},     {0xc80, 0xc80},     {0xc85, 0xc8c},     {0xc8e, 0xc90},     {0xc92, 0xca8},
    {0xcaa, 0xcb3},     {0xcb5, 0xcb9},     {0xcbd, 0xcbd},     {0xcdd, 0xcde},     {0xce0, 0xce1},
    {0xcf1, 0xcf2},     {0xd04, 0xd0c},     {0xd0e, 0xd10},     {0xd12, 0xd3a},     {0xd3d, 0xd3d},
    {0xd4e, 0xd4e},     {0xd54, 0xd56},     {0xd5f, 0xd61},     {0xd7a, 0xd7f},     {0xd85, 0xd96},
    {0xd9a, 0xdb1},     {0xdb3, 0xdbb},     {0xdbd, 0xdbd},     {0xdc0, 0xdc6},     {0xe01, 0xe30},
    {0xe32, 0xe33},     {0xe40, 0xe46},     {0xe81, 0xe82},     {0xe84, 0xe84},     {0xe86, 0xe8a},
    {0xe8c, 0xea3},     {0xea5, 0xea5},     {0xea7, 0xeb0},     {0xeb2, 0xeb3},     {0xebd, 0xebd},
    {0xec0, 0xec4},     {0xec6, 0xec6},     {0xedc, 0xedf},     {0xf00, 0xf00},     {0xf40, 0xf47},
    {0xf49, 0xf6c},     {0xf88, 0xf8c},     {0x1000, 0x102a},   {0x103f, 0x103f},   {0x1050, 0x1055},
    {0x105a, 0x105d},   {0x1061, 0x1061},   {0x1065, 0x1066},   {0x106e, 0x1070},   {0x1075, 0x1081},
    {0x108e, 0x108e},   {0x10a0, 0x10c5},   {0x10c7, 0x10c7},   {0x10cd, 0x10cd},   {0x10d0, 0x10fa},
    {0x10fc, 0x1248},   {0x124a, 0x124d},   {0x1250, 0x1256},   {0x1258, 0x1258},   {0x125a, 0x125d},
    {0x1260, 0x1288},   {0x128a, 0x128d},   {0x1290, 0x12b0},   {0x12b2, 0x12b5},   {0x12b8, 0x12be},
    {0x12c0, 0x12c0},   {0x12c2, 0x12c5},   {0x12c8, 0x12d6},   {0x12d8, 0x1310},   {0x1312, 0x1315},
    {0x1318, 0x135a},   {0x1380, 0x138f},   {0x13a0, 0x13f5},   {0x13f8, 0x13fd},   {0x1401, 0x166c},
    {0x166f, 0x167f},   {0x1681, 0x169a},   {0x16a0, 0x16ea},   {0x16f1, 0x16f8},   {0x1700, 0x1711},
    {0x171f, 0x1731},   {0x1740, 0x1751},   {0x1760, 0x176c},   {0x176e, 0x1770},   {0x1780, 0x17b3},
    {0x17d7, 0x17d7},   {0x17dc, 0x17dc},   {0x1820, 0x1878},   {0x1880, 0x1884},   {0x1887, 0x18a8},
    {0x18aa, 0x18aa},   {0x18b0, 0x18f5},   {0x1900, 0x191e},   {0x1950, 0x196d},   {0x1970, 0x1974},
    {0x1980, 0x19ab},   {0x19b0, 0x19c9},   {0x1a00, 0x1a16},   {0x1a20, 0x1a54},   {0x1aa7, 0x1aa7},
    {0x1b05, 0x1b33},   {0x1b45, 0x1b4c},   {0x1b83, 0x1ba0},   {0x1bae, 0x1baf},   {0x1bba, 0x1be5},
    {0x1c00, 0x1c23},   {0x1c4d, 0x1c4f},   {0x1c5a, 0x1c7d},   {0x1c80, 0x1c88},   {0x1c90, 0x1cba},
    {0x1cbd, 0x1cbf},   {0x1ce9, 0x1cec},   {0x1cee, 0x1cf3},   {0x1cf5, 0x1cf6},   {0x1cfa, 0x1cfa},
    {0x1d00, 0x1dbf},   {0x1e00, 0x1f15},   {0x1f18, 0x1f1d},   {0x1f20, 0x1f45},   {0x1f48, 0x1f4d},
    {0x1f50, 0x1f57},   {0x1f59, 0x1f59},   {0x1f5b, 0x1f5b},   {0x1f5d, 0x1f5d},   {0x1f5f, 0x1f7d},
    {0x1f80, 0x1fb4},   {0x1fb6, 0x1fbc},   {0x1fbe, 0x1fbe},   {0x1fc2, 0x1fc4},   {0x1fc6, 0x1fcc},
    {0x1fd0, 0x1fd3},   {0x1fd6, 0x1fdb},   {0x1fe0, 0x1fec},   {0x1ff2, 0x1ff4},   {0x1ff6, 0x1ffc},
    {0x2071, 0x2071},   {0x207f, 0x207f},   {0x2090, 0x209c},   {0x2102, 0x2102},   {0x2107, 0x2107},
    {0x210a, 0x2113},   {0x2115, 0x2115},   {0x2119, 0x211d},   {0x2124, 0x2124},   {0x2126, 0x2126},
    {0x2128, 0x2128},   {0x212a, 0x212d},   {0x212f, 0x2139},   {0x213c, 0x213f},   {0x2145, 0x2149},
    {0x214e, 0x214e},   {0x2183, 0x2184},   {0x2c00, 0x2ce4},   {0x2ceb, 0x2cee},   {0x2cf2, 0x2cf3},
    {0x2d00, 0x2d25},   {0x2d27, 0x2d27},   {0x2d2d, 0x2d2d},   {0x2d30, 0x2d67},   {0x2d6f, 0x2d6f},
    {0x2d80, 0x2d96},   {0x2da0, 0x2da6},   {0x2da8, 0x2dae},   {0x2db0, 0x2db6},   {0x2db8, 0x2dbe},
    {0x2dc0, 0x2dc6},   {0x2dc8, 0x2dce},   {0x2dd0, 0x2dd6},   {0x2dd8, 0x2dde},   {0x2e2f, 0x2e2f},
    {0x3005, 0x3006},   {0x3031, 0x3035},   {0x303b, 0x303c},   {0x3041, 0x3096},   {0x309d, 0x309f},
    {0x30a1, 0x30fa},   {0x30fc, 0x30ff},   {0x3105, 0x312f},   {0x3131, 0x318e},   {0x31a0, 0x31bf},
    {0x31f0, 0x31ff},   {0x3400, 0x4dbf},   {0x4e00, 0xa48c},   {0xa4d0, 0xa4fd},   {0xa500, 0xa60c},
    {0xa610, 0xa61f},   {0xa62a, 0xa62b},   {0xa640, 0xa66e},   {0xa67f, 0xa69d},   {0xa6a0, 0xa6e5},
    {0xa717, 0xa71f},   {0xa722, 0xa788},   {0xa78b, 0xa7ca},   {0xa7d0, 0xa7d1},   {0xa7d3, 0xa7d3},
    {0xa7d5, 0xa7d9},   {0xa7f2, 0xa801},   {0xa803, 0xa805},   {0xa807, 0xa80a},   {0xa80c, 0xa822},
    {0xa840, 0xa873},   {0xa882, 0xa8b3},   {0xa8f2, 0xa8f7},   {0xa8fb, 0xa8fb},   {0xa8fd, 0xa8fe},
    {0xa90a, 0xa925},   {0xa930, 0xa946},   {0xa960, 0xa97c},   {0xa984, 0xa9b2},   {0xa9cf, 0xa9cf},
    {0xa9e0, 0xa9e4},   {0xa9e6, 0xa9ef},   {0xa9fa, 0xa9fe},   {0xaa00, 0xaa28},   {0xaa40, 0xaa42},
    {0xaa44, 0xaa4b},   {0xaa60, 0xaa76},   {0xaa7a, 0xaa7a},   {0xaa7e, 0xaaaf},   {0xaab1, 0xaab1},
    {0xaab5, 0xaab6},   {0xaab9, 0xaabd},   {0xaac0, 0xaac0},   {0xaac2, 0xaac2},   {0xaadb, 0xaadd},
    {0xaae0, 0xaaea},   {0xaaf2, 0xaaf4},   {0xab01, 0xab06},   {0xab09, 0xab0e},   {0xab11, 0xab16},
    {0xab20, 0xab26},   {0xab28, 0xab2e},   {0xab30, 0xab5a},   {0xab5c, 0xab69},   {0xab70, 0xabe2},
    {0xac00, 0xd7a3},   {0xd7b0, 0xd7c6},   {0xd7cb, 0xd7fb},   {0xf900, 0xfa6d},   {0xfa70, 0xfad9},
    {0xfb00, 0xfb06},   {0xfb13, 0xfb17},   {0xfb1d, 0xfb1d},   {0xfb1f, 0xfb28},   {0xfb2a, 0xfb36},
    {0xfb38, 0xfb3c},   {0xfb3e, 0xfb3e},   {0xfb40, 0xfb41},   {0xfb43, 0xfb44},   {0xfb46, 0xfbb1},
    {0xfbd3, 0xfd3d},   {0xfd50, 0xfd8f},   {0xfd92, 0xfdc7},   {0xfdf0, 0xfdfb},   {0xfe70, 0xfe74},
    {0xfe76, 0xfefc},   {0xff21, 0xff3a},   {0xff41, 0xff5a},   {0xff66, 0xffbe},   {0xffc2, 0xffc7},
    {0xffca, 0xffcf},   {0xffd2, 0xffd7},   {0xffda, 0xffdc},   {0x10000, 0x1000b}, {0x1000d, 0x10026},
    {0x10028, 0x1003a}, {0x1003c, 0x1003d}, {0x1003f, 0x1004d}, {0x10050, 0x1005d}, {0x10080, 0x100fa},
    {0x10280, 0x1029c}, {0x102a0, 0x102d0}, {0x10300, 0x1031f}, {0x1032d, 0x10340}, {0x10342, 0x10349},
    {0x10350, 0x10375}, {0x10380, 0x1039d}, {0x103a0, 0x103c3}, {0x103c8, 0x103cf}, {0x10400, 0x1049d},
    {0x104b0, 0x104d3}, {0x104d8, 0x104fb}, {0x10500, 0x10527}, {0x10530, 0x10563}, {0x10570, 0x1057a},
    {0x1057c, 0x1058a}, {0x1058c, 0x10592}, {0x10594, 0x10595}, {0x10597, 0x105a1}, {0x105a3, 0x105b1},
    {0x105b3, 0x105b9}, {0x105bb, 0x105bc}, {0x10600, 0x10736}, {0x10740, 0x10755}, {0x10760, 0x10767},
    {0x10780, 0x10785}, {0x10787, 0x107b0}, {0x107b2, 0x107ba}, {0x10800, 0x10805}, {0x10808, 0x10808},
    {0x1080a, 0x10835}, {0x10837, 0x10838}, {0x1083c, 0x1083c}, {0x1083f, 0x10855}, {0x10860, 0x10876},
    {0x10880, 0x1089e}, {0x108e0, 0x108f2}, {0x108f4, 0x108f5}, {0x10900, 0x10915}, {0x10920, 0x10939},
    {0x10980, 0x109b7}, {0x109be, 0x109bf}, {0x10a00, 0x10a00}, {0x10a10, 0x10a13}, {0x10a15, 0x10a17},
    {0x10a19, 0x10a35}, {0x10a60, 0x10a7c}, {0x10a80, 0x10a9c}, {0x10ac0, 0x10ac7}, {0x10ac9, 0x10ae4},
    {0x10b00, 0x10b35}, {0x10b40, 0x10b55}, {0x10b60, 0x10b72}, {0x10b80, 0x10b91}, {0x10c00, 0x10c48},
    {0x10c80, 0x10cb2}, {0x10cc0, 0x10cf2}, {0x10d00, 0x10d23}, {0x10e80, 0x10ea9}, {0x10eb0, 0x10eb1},
    {0x10f00, 0x10f1c}, {0x10f27, 0x10f27}, {0x10f30, 0x10f45}, {0x10f70, 0x10f81}, {0x10fb0, 0x10fc4},
    {0x10fe0, 0x10ff6}, {0x11003, 0x11037}, {0x11071, 0x11072}, {0x11075, 0x11075}, {0x11083, 0x110af},
    {0x110d0, 0x110e8}, {0x11103, 0x11126}, {0x11144, 0x11144}, {0x11147, 0x11147}, {0x11150, 0x11172},
    {0x11176, 0x11176}, {0x11183, 0x111b2}, {0x111c1, 0x111c4}, {0x111da, 0x111da}, {0x111dc, 0x111dc},
    {0x11200, 0x11211}, {0x11213, 0x1122b}, {0x11280, 0x11286}, {0x11288, 0x11288}, {0x1128a, 0x1128d},
    {0x1128f, 0x1129d}, {0x1129f, 0x112a8}, {0x112b0, 0x112de}, {0x11305, 0x1130c}, {0x1130f, 0x11310},
    {0x11313, 0x11328}, {0x1132a, 0x11330}, {0x11332, 0x11333}, {0x11335, 0x11339}, {0x1133d, 0x1133d},
    {0x11350, 0x11350}, {0x1135d, 0x11361}, {0x11400, 0x11434}, {0x11447, 0x1144a}, {0x1145f, 0x11461},
    {0x11480, 0x114af}, {0x114c4, 0x114c5}, {0x114c7, 0x114c7}, {0x11580, 0x115ae}, {0x115d8, 0x115db},
    {0x11600, 0x1162f}, {0x11644, 0x11644}, {0x11680, 0x116aa}, {0x116b8, 0x116b8}, {0x11700, 0x1171a},
    {0x11740, 0x11746}, {0x11800, 0x1182b}, {0x118a0, 0x118df}, {0x118ff, 0x11906}, {0x11909, 0x11909},
    {0x1190c, 0x11913}, {0x11915, 0x11916}, {0x11918, 0x1192f}, {0x1193f, 0x1193f}, {0x11941, 0x11941},
    {0x119a0, 0x119a7}, {0x119aa, 0x119d0}, {0x119e1, 0x119e1}, {0x119e3, 0x119e3}, {0x11a00, 0x11a00},
    {0x11a0b, 0x11a32}, {0x11a3a, 0x11a3a}, {0x11a50, 0x11a50}, {0x11a5c, 0x11a89}, {0x11a9d, 0x11a9d},
    {0x11ab0, 0x11af8}, {0x11c00, 0x11c08}, {0x11c0a, 0x11c2e}, {0x11c40, 0x11c40}, {0x11c72, 0x11c8f},
    {0x11d00, 0x11d06}, {0x11d08, 0x11d09}, {0x11d0b, 0x11d30}, {0x11d46, 0x11d46}, {0x11d60, 0x11d65},
    {0x11d67, 0x11d68}, {0x11d6a, 0x11d89}, {0x11d98, 0x11d98}, {0x11ee0, 0x11ef2}, {0x11fb0, 0x11fb0},
    {0x12000, 0x12399}, {0x12480, 0x12543}, {0x12f90, 0x12ff0}, {0x13000, 0x1342e}, {0x14400, 0x14646},
    {0x16800, 0x16a38}, {0x16a40, 0x16a5e}, {0x16a70, 0x16abe}, {0x16ad0, 0x16aed}, {0x16b00, 0x16b2f},
    {0x16b40, 0x16b43}, {0x16b63, 0x16b77}, {0x16b7d, 0x16b8f}, {0x16e40, 0x16e7f}, {0x16f00, 0x16f4a},
    {0x16f50, 0x16f50}, {0x16f93, 0x16f9f}, {0x16fe0, 0x16fe1}, {0x16fe3, 0x16fe3}, {0x17000, 0x187f7},
    {0x18800, 0x18cd5}, {0x18d00, 0x18d08}, {0x1aff0, 0x1aff3}, {0x1aff5, 0x1affb}, {0x1affd, 0x1affe},
    {0x1b000, 0x1b122}, {0x1b150, 0x1b152}, {0x1b164, 0x1b167}, {0x1b170, 0x1b2fb}, {0x1bc00, 0x1bc6a},
    {0x1bc70, 0x1bc7c}, {0x1bc80, 0x1bc88}, {0x1bc90, 0x1bc99}, {0x1d400, 0x1d454}, {0x1d456, 0x1d49c},
    {0x1d49e, 0x1d49f}, {0x1d4a2, 0x1d4a2}, {0x1d4a5, 0x1d4a6}, {0x1d4a9, 0x1d4ac}, {0x1d4ae, 0x1d4b9},
    {0x1d4bb, 0x1d4bb}, {0x1d4bd, 0x1d4c3}, {0x1d4c5, 0x1d505}, {0x1d507, 0x1d50a}, {0x1d50d, 0x1d514},
    {0x1d516, 0x1d51c}, {0x1d51e, 0x1d539}, {0x1d53b, 0x1d53e}, {0x1d540, 0x1d544}, {0x1d546, 0x1d546},
    {0x1d54a, 0x1d550}, {0x1d552, 0x1d6a5}, {0x1d6a8, 0x1d6c0}, {0x1d6c2, 0x1d6da}, {0x1d6dc, 0x1d6fa},
    {0x1d6fc, 0x1d714}, {0x1d716, 0x1d734}, {0x1d736, 0x1d74e}, {0x1d750, 0x1d76e}, {0x1d770, 0x1d788},
    {0x1d78a, 0x1d7a8}, {0x1d7aa, 0x1d7c2}, {0x1d7c4, 0x1d7cb}, {0x1df00, 0x1df1e}, {0x1e100, 0x1e12c},
    {0x1e137, 0x1e13d}, {0x1e14e, 0x1e14e}, {0x1e290, 0x1e2ad}, {0x1e2c0, 0x1e2eb}, {0x1e7e0, 0x1e7e6},
    {0x1e7e8, 0x1e7eb}, {0x1e7ed, 0x1e7ee}, {0x1e7f0, 0x1e7fe}, {0x1e800, 0x1e8c4}, {0x1e900, 0x1e943},
    {0x1e94b, 0x1e94b}, {0x1ee00, 0x1ee03}, {0x1ee05, 0x1ee1f}, {0x1ee21, 0x1ee22}, {0x1ee24, 0x1ee24},
    {0x1ee27, 0x1ee27}, {0x1ee29, 0x1ee32}, {0x1ee34, 0x1ee37}, {0x1ee39, 0x1ee39}, {0x1ee3b, 0x1ee3b},
    {0x1ee42, 0x1ee42}, {0x1ee47, 0x1ee47}, {0x1ee49, 0x1ee49}, {0x1ee4b, 0x1ee4b}, {0x1ee4d, 0x1ee4f},
    {0x1ee51, 0x1ee52}, {0x1ee54, 0x1ee54}, {0x1ee57, 0x1ee57}, {0x1ee59, 0x1ee59}, {0x1ee5b, 0x1ee5b},
    {0x1ee5d, 0x1ee5d}, {0x1ee5f, 0x1ee5f}, {0x1ee61, 0x1ee62}, {0x1ee64, 0x1ee64}, {0x1ee67, 0x1ee6a},
    {0x1ee6c, 0x1ee72}, {0x1ee74, 0x1ee77}, {0x1ee79, 0x1ee7c}, {0x1ee7e, 0x1ee7e}, {0x1ee80, 0x1ee89},
    {0x1ee8b, 0x1ee9b}, {0x1eea1, 0x1eea3}, {0x1eea5, 0x1eea9}, {0x1eeab, 0x1eebb}, {0x20000, 0x2a6df},
    {0x2a700, 0x2b738}, {0x2b740, 0x2b81d}, {0x2b820, 0x2cea1}, {0x2ceb0, 0x2ebe0}, {0x2f800, 0x2fa1d},
    {0x30000, 0x3134a},
};
static const uint32_t unicode_digit_ranges[][2] = {
    {0x660, 0x669},     {0x6f0, 0x6f9},     {0x7c0, 0x7c9},     {0x966, 0x96f},     {0x9e6, 0x9ef},
    {0xa66, 0xa6f},     {0xae6, 0xaef},     {0xb66, 0xb6f},     {0xbe6, 0xbef},     {0xc66, 0xc6f},
    {0xce6, 0xcef},     {0xd66, 0xd6f},     {0xde6, 0xdef},     {0xe50, 0xe59},     {0xed0, 0xed9},
    {0xf20, 0xf29},     {0x1040, 0x1049},   {0x1090, 0x1099},   {0x17e0, 0x17e9},   {0x1810, 0x1819},
    {0x1946, 0x194f},   {0x19d0, 0x19d9},   {0x1a80, 0x1a89},   {0x1a90, 0x1a99},   {0x1b50, 0x1b59},
    {0x1bb0, 0x1bb9},   {0x1c40, 0x1c49},   {0x1c50, 0x1c59},   {0xa620, 0xa629},   {0xa8d0, 0xa8d9},
    {0xa900, 0xa909},   {0xa9d0, 0xa9d9},   {0xa9f0, 0xa9f9},   {0xaa50, 0xaa59},   {0xabf0, 0xabf9},
    {0xff10, 0xff19},   {0x104a0, 0x104a9}, {0x10d30, 0x10d39}, {0x11066, 0x1106f}, {0x110f0, 0x110f9},
    {0x11136, 0x1113f}, {0x111d0, 0x111d9}, {0x112f0, 0x112f9}, {0x11450, 0x11459}, {0x114d0, 0x114d9},
    {0x11650, 0x11659}, {0x116c0, 0x116c9}, {0x11730, 0x11739}, {0x118e0, 0x118e9}, {0x11950, 0x11959},
    {0x11c50, 0x11c59}, {0x11d50, 0x11d59}, {0x11da0, 0x11da9}, {0x16a60, 0x16a69}, {0x16ac0, 0x16ac9},
    {0x16b50, 0x16b59}, {0x1d7ce, 0x1d7ff}, {0x1e140, 0x1e149}, {0x1e2f0, 0x1e2f9}, {0x1e950, 0x1e959},
    {0x1fbf0, 0x1fbf9},
};

/* ---------------------------------------------------------------- values */

struct yaml_value *yaml_value_new(enum yaml_value_type type)
{
    struct yaml_value *v = xcalloc(1, sizeof *v);
    v->type = type;
    return v;
}

struct yaml_value *yaml_value_string_len(const char *s, size_t len)
{
    struct yaml_value *v = yaml_value_new(YAML_VALUE_STRING);
    v->text = xstrndup(s, len);
    v->length = len;
    return v;
}

struct yaml_value *yaml_value_string(const char *s)
{
    return yaml_value_string_len(s, strlen(s));
}

struct yaml_value *yaml_value_int(int64_t i)
{
    struct yaml_value *v = yaml_value_new(YAML_VALUE_INT);
    v->integer = i;
    return v;
}

struct yaml_value *yaml_value_uint(uint64_t u)
{
    if (u <= INT64_MAX)
        return yaml_value_int((int64_t)u);
    struct yaml_value *v = yaml_value_new(YAML_VALUE_UINT);
    v->uinteger = u;
    return v;
}

struct yaml_value *yaml_value_bool(bool b)
{
    struct yaml_value *v = yaml_value_new(YAML_VALUE_BOOL);
    v->boolean = b;
    return v;
}

static void push(struct yaml_value *v, struct yaml_value *item)
{
    if (v->count == v->capacity) {
        v->capacity = v->capacity ? v->capacity * 2 : 8;
        v->items = xrealloc(v->items, v->capacity * sizeof *v->items);
    }
    v->items[v->count++] = item;
}

void yaml_value_append(struct yaml_value *sequence, struct yaml_value *item)
{
    push(sequence, item);
}

void yaml_value_put(struct yaml_value *mapping, struct yaml_value *key, struct yaml_value *value)
{
    push(mapping, key);
    push(mapping, value);
}

void yaml_value_put_str(struct yaml_value *mapping, const char *key, struct yaml_value *value)
{
    yaml_value_put(mapping, yaml_value_string(key), value);
}

void yaml_value_free(struct yaml_value *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->count; i++)
        yaml_value_free(v->items[i]);
    free(v->items);
    free(v->text);
    free(v);
}

struct yaml_value *yaml_value_clone(const struct yaml_value *v)
{
    if (!v)
        return NULL;
    struct yaml_value *c = yaml_value_new(v->type);
    c->boolean = v->boolean;
    c->integer = v->integer;
    c->uinteger = v->uinteger;
    c->number = v->number;
    if (v->text) {
        c->text = xstrndup(v->text, v->length);
        c->length = v->length;
    }
    for (size_t i = 0; i < v->count; i++)
        push(c, yaml_value_clone(v->items[i]));
    return c;
}

bool yaml_value_equal(const struct yaml_value *a, const struct yaml_value *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case YAML_VALUE_NULL: return true;
    case YAML_VALUE_BOOL: return a->boolean == b->boolean;
    case YAML_VALUE_INT: return a->integer == b->integer;
    case YAML_VALUE_UINT: return a->uinteger == b->uinteger;
    case YAML_VALUE_FLOAT: return a->number == b->number;
    case YAML_VALUE_STRING:
    case YAML_VALUE_TIMESTAMP: return a->length == b->length && !memcmp(a->text, b->text, a->length);
    case YAML_VALUE_SEQUENCE:
    case YAML_VALUE_MAPPING:
        if (a->count != b->count)
            return false;
        for (size_t i = 0; i < a->count; i++)
            if (!yaml_value_equal(a->items[i], b->items[i]))
                return false;
        return true;
    }
    return false;
}

/* --------------------------------------------------------------- unicode */

static bool in_ranges(uint32_t cp, const uint32_t (*ranges)[2], size_t n)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < ranges[mid][0])
            hi = mid;
        else if (cp > ranges[mid][1])
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

/* Go unicode.IsLetter / unicode.IsDigit */
static bool rune_is_letter(uint32_t r)
{
    if (r < 0x80)
        return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z');
    return in_ranges(r, unicode_letter_ranges, sizeof unicode_letter_ranges / sizeof unicode_letter_ranges[0]);
}

static bool rune_is_digit(uint32_t r)
{
    if (r < 0x80)
        return r >= '0' && r <= '9';
    return in_ranges(r, unicode_digit_ranges, sizeof unicode_digit_ranges / sizeof unicode_digit_ranges[0]);
}

/* Go unicode.IsSpace */
static bool rune_is_space(uint32_t r)
{
    switch (r) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000: return true;
    }
    return r >= 0x2000 && r <= 0x200A;
}

/* Width of the UTF-8 sequence starting with b (libyaml's width()); 0 for a bad lead byte. */
static size_t utf8_width(unsigned char b)
{
    if ((b & 0x80) == 0x00)
        return 1;
    if ((b & 0xE0) == 0xC0)
        return 2;
    if ((b & 0xF0) == 0xE0)
        return 3;
    if ((b & 0xF8) == 0xF0)
        return 4;
    return 0;
}

static uint32_t utf8_decode(const unsigned char *s, size_t w)
{
    uint32_t v = w == 1 ? s[0] : w == 2 ? (s[0] & 0x1Fu) : w == 3 ? (s[0] & 0x0Fu) : (s[0] & 0x07u);
    for (size_t k = 1; k < w; k++)
        v = (v << 6) | (s[k] & 0x3Fu);
    return v;
}

static bool utf8_valid(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        size_t w = utf8_width(s[i]);
        if (!w || i + w > len)
            return false;
        for (size_t k = 1; k < w; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
        uint32_t cp = utf8_decode(s + i, w);
        if ((w == 2 && cp < 0x80) || (w == 3 && cp < 0x800) || (w == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += w;
    }
    return true;
}

/* ------------------------------------------------------------- key order */

/* reflect.Kind numbers: the order go-yaml falls back to for keys of different types */
static int go_kind(const struct yaml_value *v)
{
    switch (v->type) {
    case YAML_VALUE_BOOL: return 1;
    case YAML_VALUE_INT: return 2;
    case YAML_VALUE_UINT: return 11;
    case YAML_VALUE_FLOAT: return 14;
    case YAML_VALUE_NULL: return 20; /* nil interface */
    case YAML_VALUE_STRING: return 24;
    case YAML_VALUE_TIMESTAMP: return 25; /* time.Time is a struct */
    case YAML_VALUE_SEQUENCE: return 23;
    case YAML_VALUE_MAPPING: return 21;
    }
    return 0;
}

static bool key_float(const struct yaml_value *v, double *f)
{
    switch (v->type) {
    case YAML_VALUE_INT: *f = (double)v->integer; return true;
    case YAML_VALUE_UINT: *f = (double)v->uinteger; return true;
    case YAML_VALUE_FLOAT: *f = v->number; return true;
    case YAML_VALUE_BOOL: *f = v->boolean ? 1 : 0; return true;
    default: return false;
    }
}

static bool num_less(const struct yaml_value *a, const struct yaml_value *b)
{
    switch (a->type) {
    case YAML_VALUE_INT: return a->integer < b->integer;
    case YAML_VALUE_UINT: return a->uinteger < b->uinteger;
    case YAML_VALUE_FLOAT: return a->number < b->number;
    case YAML_VALUE_BOOL: return !a->boolean && b->boolean;
    default: return false;
    }
}

static uint32_t *to_runes(const char *s, size_t len, size_t *n)
{
    uint32_t *r = xmalloc((len + 1) * sizeof *r);
    size_t k = 0;
    for (size_t i = 0; i < len;) {
        size_t w = utf8_width((unsigned char)s[i]);
        if (!w || i + w > len)
            w = 1;
        r[k++] = utf8_decode((const unsigned char *)s + i, w);
        i += w;
    }
    *n = k;
    return r;
}

/* go-yaml keyList.Less for two strings ("natural" order), on their runes. */
static bool runes_less(const uint32_t *ar, size_t na, const uint32_t *br, size_t nb)
{
    bool digits = false, result = na < nb;
    for (size_t i = 0; i < na && i < nb; i++) {
        if (ar[i] == br[i]) {
            digits = rune_is_digit(ar[i]);
            continue;
        }
        bool al = rune_is_letter(ar[i]), bl = rune_is_letter(br[i]);
        if (al && bl) {
            result = ar[i] < br[i];
            goto done;
        }
        if (al || bl) {
            result = digits ? al : bl;
            goto done;
        }
        size_t ai, bi;
        uint64_t an = 0, bn = 0; /* Go int64 arithmetic wraps; do it unsigned */
        if (ar[i] == '0' || br[i] == '0') {
            for (size_t j = i; j-- > 0 && rune_is_digit(ar[j]);) {
                if (ar[j] != '0') {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        for (ai = i; ai < na && rune_is_digit(ar[ai]); ai++)
            an = an * 10 + (uint64_t)(int64_t)((int64_t)ar[ai] - '0');
        for (bi = i; bi < nb && rune_is_digit(br[bi]); bi++)
            bn = bn * 10 + (uint64_t)(int64_t)((int64_t)br[bi] - '0');
        if (an != bn) {
            result = (int64_t)an < (int64_t)bn;
            goto done;
        }
        if (ai != bi) {
            result = ai < bi;
            goto done;
        }
        result = ar[i] < br[i];
        goto done;
    }
done:
    return result;
}

/* A string key's runes, decoded once per sort instead of once per comparison. */
struct key_runes {
    uint32_t *runes;
    size_t count;
};

static bool string_less(const struct yaml_value *a, const struct key_runes *ra, const struct yaml_value *b,
                        const struct key_runes *rb)
{
    struct key_runes ta = {0}, tb = {0};
    if (!ra || !ra->runes) {
        ta.runes = to_runes(a->text, a->length, &ta.count);
        ra = &ta;
    }
    if (!rb || !rb->runes) {
        tb.runes = to_runes(b->text, b->length, &tb.count);
        rb = &tb;
    }
    bool result = runes_less(ra->runes, ra->count, rb->runes, rb->count);
    free(ta.runes);
    free(tb.runes);
    return result;
}

/* go-yaml keyList.Less; ra/rb: the keys' runes when already decoded, else NULL. */
static bool key_less_runes(const struct yaml_value *a, const struct key_runes *ra, const struct yaml_value *b,
                           const struct key_runes *rb)
{
    double af, bf;
    bool aok = key_float(a, &af), bok = key_float(b, &bf);
    int ak = go_kind(a), bk = go_kind(b);
    if (aok && bok) {
        if (af != bf)
            return af < bf;
        if (ak != bk)
            return ak < bk;
        return num_less(a, b);
    }
    if (a->type != YAML_VALUE_STRING || b->type != YAML_VALUE_STRING)
        return ak < bk;
    return string_less(a, ra, b, rb);
}

static bool key_less(const struct yaml_value *a, const struct yaml_value *b)
{
    return key_less_runes(a, NULL, b, NULL);
}

struct pair {
    struct yaml_value *key, *value;
    struct key_runes runes; /* string keys */
};

static int compare_pairs(const void *pa, const void *pb)
{
    const struct pair *a = pa, *b = pb;
    if (key_less_runes(a->key, &a->runes, b->key, &b->runes))
        return -1;
    if (key_less_runes(b->key, &b->runes, a->key, &a->runes))
        return 1;
    return 0;
}

void yaml_value_sort_map(struct yaml_value *mapping)
{
    size_t pairs = mapping->count / 2;
    if (pairs < 2)
        return;
    struct pair *p = xcalloc(pairs, sizeof *p);
    for (size_t i = 0; i < pairs; i++) {
        p[i].key = mapping->items[2 * i];
        p[i].value = mapping->items[2 * i + 1];
        if (p[i].key->type == YAML_VALUE_STRING)
            p[i].runes.runes = to_runes(p[i].key->text, p[i].key->length, &p[i].runes.count);
    }
    qsort(p, pairs, sizeof *p, compare_pairs);
    for (size_t i = 0; i < pairs; i++) {
        mapping->items[2 * i] = p[i].key;
        mapping->items[2 * i + 1] = p[i].value;
        free(p[i].runes.runes);
    }
    free(p);
}

/* go-yaml's natural order sums digit runs in int64, which wraps for long runs (or non-ASCII
 * digits, counted as rune - '0'); the order is then not transitive and Go's result depends on
 * random map iteration. True when a key's digit runs stay in range. */
static bool digit_runs_fit(const struct yaml_value *key)
{
    size_t n;
    uint32_t *r = to_runes(key->text, key->length, &n);
    bool ok = true;
    for (size_t i = 0; i < n && ok;) {
        if (!rune_is_digit(r[i])) {
            i++;
            continue;
        }
        int64_t acc = 1; /* the zero rule may start a run at 1 */
        for (; i < n && rune_is_digit(r[i]); i++)
            if (__builtin_mul_overflow(acc, 10, &acc) || __builtin_add_overflow(acc, (int64_t)r[i] - '0', &acc))
                ok = false;
    }
    free(r);
    return ok;
}

/* True when every pair of the (sorted) mapping's keys compares in order, both ways. The check is
 * quadratic, each comparison linear in the keys' length: beyond 512 pairs or 16 M characters
 * compared (a few hundred keys of kilobytes of digits) the order counts as unproven and the
 * mapping is refused, so no input can buy seconds of CPU here. */
#define ORDER_CHECK_MAX_PAIRS 512
#define ORDER_CHECK_MAX_WORK (16u << 20)

static bool order_is_total(const struct yaml_value *map)
{
    size_t pairs = map->count / 2;
    if (pairs > ORDER_CHECK_MAX_PAIRS)
        return false;
    size_t chars = 0;
    for (size_t i = 0; i < pairs; i++)
        chars += map->items[2 * i]->length;
    if (chars > ORDER_CHECK_MAX_WORK / (pairs ? pairs : 1))
        return false;
    for (size_t i = 0; i < pairs; i++)
        for (size_t j = i + 1; j < pairs; j++)
            if (!key_less(map->items[2 * i], map->items[2 * j]) || key_less(map->items[2 * j], map->items[2 * i]))
                return false;
    return true;
}

/* -------------------------------------------------------- node -> value */

/* A Go map: assigning an equal key (0x1 and 1 are both int 1; 0.0 and -0.0 are equal floats)
 * overwrites the value AND the stored key, since Go updates interface and float keys on
 * assignment (runtime mapassign, needkeyupdate). So of equal keys the later pair survives whole.
 * Only non-string keys can be equal here: string keys with the same text are refused earlier as
 * duplicates (yaml_document, go-yaml UniqueKeys). Sorted, not pairwise, so a mapping of 100 000
 * keys costs O(n log n); non-string keys are totally ordered by key_less (no digit-run strings),
 * ties broken by position so equal keys end adjacent with the later one last. */
struct key_slot {
    const struct yaml_value *key;
    size_t pair;
};

static int compare_key_slots(const void *pa, const void *pb)
{
    const struct key_slot *a = pa, *b = pb;
    if (key_less(a->key, b->key))
        return -1;
    if (key_less(b->key, a->key))
        return 1;
    return a->pair < b->pair ? -1 : a->pair > b->pair;
}

static void drop_overwritten_keys(struct yaml_value *map)
{
    size_t pairs = map->count / 2, n = 0;
    struct key_slot *slots = xmalloc((pairs ? pairs : 1) * sizeof *slots);
    for (size_t i = 0; i < pairs; i++)
        if (map->items[2 * i]->type != YAML_VALUE_STRING)
            slots[n++] = (struct key_slot){map->items[2 * i], i};
    qsort(slots, n, sizeof *slots, compare_key_slots);
    bool *dropped = NULL;
    for (size_t i = 0; i + 1 < n; i++) {
        if (!yaml_value_equal(slots[i].key, slots[i + 1].key))
            continue;
        if (!dropped)
            dropped = xcalloc(pairs, sizeof *dropped);
        dropped[slots[i].pair] = true;
    }
    free(slots);
    if (!dropped)
        return;
    size_t out = 0;
    for (size_t i = 0; i < pairs; i++) {
        if (dropped[i]) {
            yaml_value_free(map->items[2 * i]);
            yaml_value_free(map->items[2 * i + 1]);
            continue;
        }
        map->items[2 * out] = map->items[2 * i];
        map->items[2 * out + 1] = map->items[2 * i + 1];
        out++;
    }
    map->count = 2 * out;
    free(dropped);
}

static int value_from_node(const struct yaml_node *node, const char *what, bool string_keys, int depth,
                           struct yaml_value **out, struct error *err);

static int scalar_value(const struct yaml_node *node, const char *what, struct yaml_value **out, struct error *err)
{
    struct yaml_resolved r;
    if (yaml_node_resolve(node, what, &r, err) < 0)
        return -1;
    struct yaml_value *v = NULL;
    switch (r.type) {
    case YAML_RESOLVED_NULL: v = yaml_value_new(YAML_VALUE_NULL); break;
    case YAML_RESOLVED_BOOL: v = yaml_value_bool(r.boolean); break;
    case YAML_RESOLVED_INT: v = yaml_value_int(r.integer); break;
    case YAML_RESOLVED_UINT: v = yaml_value_uint(r.uinteger); break;
    case YAML_RESOLVED_FLOAT:
        v = yaml_value_new(YAML_VALUE_FLOAT);
        v->number = r.number;
        break;
    case YAML_RESOLVED_TIMESTAMP:
        v = yaml_value_new(YAML_VALUE_TIMESTAMP);
        v->text = xstrdup(r.timestamp);
        v->length = strlen(r.timestamp);
        break;
    case YAML_RESOLVED_STRING: v = yaml_value_string_len(node->value, node->length); break;
    case YAML_RESOLVED_MERGE:
        return error_set(err, ERROR_INPUT,
                         "%s:%d:%d: '<<' (a merge key) is not supported as a value; "
                         "quote it",
                         what, node->line, node->column);
    }
    *out = v;
    return 0;
}

static bool all_keys_strings(const struct yaml_node *node)
{
    for (size_t i = 0; i < yaml_mapping_pairs(node); i++) {
        struct yaml_resolved r;
        if (yaml_node_resolve(yaml_mapping_key(node, i), "", &r, NULL) < 0 || r.type != YAML_RESOLVED_STRING)
            return false;
    }
    return true;
}

static int key_value(const struct yaml_node *key, const char *what, bool string_keys, struct yaml_value **out,
                     struct error *err)
{
    *out = NULL;
    if (scalar_value(key, what, out, err) < 0)
        return -1;
    struct yaml_value *k = *out;
    if (k->type == YAML_VALUE_TIMESTAMP && string_keys) {
        yaml_value_free(k);
        *out = NULL;
        return error_set(err, ERROR_INPUT, "%s:%d:%d: a timestamp cannot be used as a key here; quote it", what,
                         key->line, key->column);
    }
    if (k->type == YAML_VALUE_FLOAT && isnan(k->number)) {
        yaml_value_free(k);
        *out = NULL;
        return error_set(err, ERROR_INPUT, "%s:%d:%d: .nan cannot be used as a key; quote it", what, key->line,
                         key->column);
    }
    if (string_keys && k->type != YAML_VALUE_STRING) {
        if (k->type == YAML_VALUE_NULL) {
            yaml_value_free(k);
            *out = NULL;
            return error_set(err, ERROR_INPUT,
                             "%s:%d:%d: a null key is not allowed here; use a string "
                             "key",
                             what, key->line, key->column);
        }
        /* map[string]any: go-yaml stores the key's text (10 -> "10", true -> "true") */
        yaml_value_free(k);
        *out = yaml_value_string_len(key->value, key->length);
    }
    return 0;
}

static int value_from_node(const struct yaml_node *node, const char *what, bool string_keys, int depth,
                           struct yaml_value **out, struct error *err)
{
    *out = NULL;
    if (depth > YAML_DOCUMENT_MAX_DEPTH)
        return error_set(err, ERROR_INPUT, "%s:%d:%d: nesting too deep", what, node->line, node->column);
    if (node->kind == YAML_NODE_SCALAR)
        return scalar_value(node, what, out, err);
    if (node->kind == YAML_NODE_SEQUENCE) {
        struct yaml_value *seq = yaml_value_new(YAML_VALUE_SEQUENCE);
        for (size_t i = 0; i < node->count; i++) {
            struct yaml_value *item;
            if (value_from_node(node->items[i], what, false, depth + 1, &item, err) < 0) {
                yaml_value_free(seq);
                return -1;
            }
            push(seq, item);
        }
        *out = seq;
        return 0;
    }
    bool keys_are_strings = string_keys || all_keys_strings(node);
    struct yaml_value *map = yaml_value_new(YAML_VALUE_MAPPING);
    const struct yaml_value *first_timestamp = NULL;
    for (size_t i = 0; i < yaml_mapping_pairs(node); i++) {
        struct yaml_value *k, *v;
        if (key_value(yaml_mapping_key(node, i), what, keys_are_strings, &k, err) < 0) {
            yaml_value_free(map);
            return -1;
        }
        if (value_from_node(yaml_mapping_value(node, i), what, false, depth + 1, &v, err) < 0) {
            yaml_value_free(k);
            yaml_value_free(map);
            return -1;
        }
        /* Go orders time.Time keys among themselves by map iteration (random): refuse a second */
        if (k->type == YAML_VALUE_TIMESTAMP) {
            if (first_timestamp && !yaml_value_equal(first_timestamp, k)) {
                const struct yaml_node *kn = yaml_mapping_key(node, i);
                yaml_value_free(k);
                yaml_value_free(v);
                yaml_value_free(map);
                return error_set(err, ERROR_INPUT,
                                 "%s:%d:%d: two timestamp keys in one mapping have no "
                                 "stable order in Image Factory; quote them",
                                 what, kn->line, kn->column);
            }
            if (!first_timestamp)
                first_timestamp = k;
        }
        yaml_value_put(map, k, v);
    }
    drop_overwritten_keys(map);
    yaml_value_sort_map(map);
    /* only keys with overflowing digit runs can make the order non-transitive; then the sorted
     * keys must still be a strict total order, or Image Factory's order is random */
    bool overflow = false;
    for (size_t j = 0; j < map->count && !overflow; j += 2)
        overflow = map->items[j]->type == YAML_VALUE_STRING && !digit_runs_fit(map->items[j]);
    if (overflow && !order_is_total(map)) {
        int rc = error_set(err, ERROR_INPUT,
                           "%s:%d:%d: keys with very long digit runs have no stable order in "
                           "Image Factory (go-yaml's natural sort overflows); shorten them",
                           what, node->line, node->column);
        yaml_value_free(map);
        return rc;
    }
    *out = map;
    return 0;
}

int yaml_value_from_node(const struct yaml_node *node, const char *what, bool string_keys, struct yaml_value **out,
                         struct error *err)
{
    *out = NULL;
    if (string_keys && node->kind != YAML_NODE_MAPPING) {
        struct yaml_resolved r;
        if (node->kind == YAML_NODE_SCALAR && yaml_node_resolve(node, what, &r, NULL) == 0 &&
            r.type == YAML_RESOLVED_NULL) {
            *out = yaml_value_new(YAML_VALUE_MAPPING);
            return 0;
        }
        return error_set(err, ERROR_INPUT, "%s:%d:%d: expected a mapping, found %s", what, node->line, node->column,
                         yaml_node_describe(node));
    }
    return value_from_node(node, what, string_keys, 0, out, err);
}

/* ---------------------------------------------------------------- floats */

void yaml_format_float(double f, char out[40])
{
    if (isnan(f)) {
        strcpy(out, ".nan");
        return;
    }
    if (isinf(f)) {
        strcpy(out, f > 0 ? ".inf" : "-.inf");
        return;
    }
    bool neg = signbit(f) != 0;
    if (f == 0) {
        strcpy(out, neg ? "-0" : "0");
        return;
    }
    /* shortest digits that read back as f */
    char e[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, fabs(f));
        if (strtod(e, NULL) == fabs(f))
            break;
    }
    char digits[24];
    int nd = 0;
    const char *p = e;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    int exp10 = atoi(p + 1);
    int dp = exp10 + 1; /* value = 0.digits * 10^dp */
    char *o = out;
    if (neg)
        *o++ = '-';
    int x = dp - 1;
    if (x < -4 || x >= 6) {
        *o++ = digits[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, digits + 1, (size_t)nd - 1);
            o += nd - 1;
        }
        int ax = x < 0 ? -x : x;
        o += sprintf(o, "e%c%02d", x < 0 ? '-' : '+', ax);
        return;
    }
    if (dp <= 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -dp; i++)
            *o++ = '0';
        memcpy(o, digits, (size_t)nd);
        o += nd;
    } else {
        for (int i = 0; i < dp; i++)
            *o++ = i < nd ? digits[i] : '0';
        if (nd > dp) {
            *o++ = '.';
            memcpy(o, digits + dp, (size_t)(nd - dp));
            o += nd - dp;
        }
    }
    *o = '\0';
}

/* --------------------------------------------------------------- emitter */

enum scalar_style { STYLE_PLAIN, STYLE_SINGLE, STYLE_DOUBLE, STYLE_LITERAL };

#define BEST_INDENT 4
#define MAX_INDENTS (YAML_DOCUMENT_MAX_DEPTH * 2 + 16)

struct emitter {
    struct buffer *out;
    int indent;
    int indents[MAX_INDENTS];
    int indent_depth;
    long column;
    bool whitespace;
    bool indention;
    bool overflow;
};

struct analysis {
    bool multiline;
    bool block_plain_allowed;
    bool single_quoted_allowed;
    bool block_allowed;
};

static void put(struct emitter *e, char c)
{
    buffer_append_char(e->out, c);
    e->column++;
}

static void put_break(struct emitter *e)
{
    buffer_append_char(e->out, '\n');
    e->column = 0;
    e->indention = true;
}

/* copy one character (all its UTF-8 bytes), one column */
static void write_char(struct emitter *e, const char *s, size_t *i)
{
    size_t w = utf8_width((unsigned char)s[*i]);
    buffer_append(e->out, s + *i, w);
    e->column++;
    *i += w;
}

static void write_all(struct emitter *e, const char *s)
{
    size_t len = strlen(s);
    for (size_t i = 0; i < len;)
        write_char(e, s, &i);
}

static bool is_break_at(const unsigned char *s, size_t len, size_t i)
{
    if (i >= len)
        return false;
    return s[i] == '\r' || s[i] == '\n' || (s[i] == 0xC2 && i + 1 < len && s[i + 1] == 0x85) ||
           (s[i] == 0xE2 && i + 2 < len && s[i + 1] == 0x80 && (s[i + 2] == 0xA8 || s[i + 2] == 0xA9));
}

static bool is_space_at(const unsigned char *s, size_t len, size_t i)
{
    return i < len && s[i] == ' ';
}

static bool is_blank_at(const unsigned char *s, size_t len, size_t i)
{
    return i < len && (s[i] == ' ' || s[i] == '\t');
}

static bool is_blank_or_zero_at(const unsigned char *s, size_t len, size_t i)
{
    return i >= len || is_blank_at(s, len, i) || is_break_at(s, len, i) || s[i] == 0;
}

static bool is_printable_at(const unsigned char *s, size_t len, size_t i)
{
    unsigned char b = s[i];
    unsigned char b1 = i + 1 < len ? s[i + 1] : 0, b2 = i + 2 < len ? s[i + 2] : 0;
    return b == 0x0A || (b >= 0x20 && b <= 0x7E) || (b == 0xC2 && b1 >= 0xA0) || (b > 0xC2 && b < 0xED) ||
           (b == 0xED && b1 < 0xA0) || b == 0xEE ||
           (b == 0xEF && !(b1 == 0xBB && b2 == 0xBF) && !(b1 == 0xBF && (b2 == 0xBE || b2 == 0xBF)));
}

static void write_indent(struct emitter *e)
{
    int indent = e->indent < 0 ? 0 : e->indent;
    if (!e->indention || e->column > indent || (e->column == indent && !e->whitespace))
        put_break(e);
    while (e->column < indent)
        put(e, ' ');
    e->whitespace = true;
}

static void write_indicator(struct emitter *e, const char *indicator, bool need_whitespace, bool is_whitespace,
                            bool is_indention)
{
    if (need_whitespace && !e->whitespace)
        put(e, ' ');
    write_all(e, indicator);
    e->whitespace = is_whitespace;
    e->indention = e->indention && is_indention;
}

static void write_break(struct emitter *e, const char *s, size_t *i)
{
    if (s[*i] == '\n') {
        put_break(e);
        (*i)++;
    } else {
        write_char(e, s, i);
        e->column = 0;
        e->indention = true;
    }
}

/* increaseIndentCompact(flow, indentless=false, compact=false) */
static void increase_indent(struct emitter *e, bool flow, bool in_sequence_item)
{
    if (e->indent_depth < MAX_INDENTS)
        e->indents[e->indent_depth] = e->indent;
    else
        e->overflow = true;
    e->indent_depth++;
    if (e->indent < 0)
        e->indent = flow ? BEST_INDENT : 0;
    else if (in_sequence_item)
        e->indent += 2;
    else
        e->indent = BEST_INDENT * ((e->indent + BEST_INDENT) / BEST_INDENT);
}

static void decrease_indent(struct emitter *e)
{
    e->indent_depth--;
    if (e->indent_depth < MAX_INDENTS)
        e->indent = e->indents[e->indent_depth];
}

static void analyze(const char *text, size_t len, struct analysis *a)
{
    const unsigned char *v = (const unsigned char *)text;
    memset(a, 0, sizeof *a);
    if (len == 0) {
        a->block_plain_allowed = true;
        a->single_quoted_allowed = true;
        return;
    }
    bool block_indicators = false, line_breaks = false, special = false, tabs = false;
    bool leading_space = false, leading_break = false, trailing_space = false, trailing_break = false;
    bool break_space = false, space_break = false, previous_space = false, previous_break = false;
    if (len >= 3 && ((v[0] == '-' && v[1] == '-' && v[2] == '-') || (v[0] == '.' && v[1] == '.' && v[2] == '.')))
        block_indicators = true;
    bool preceded_by_whitespace = true;
    for (size_t i = 0, w; i < len; i += w) {
        w = utf8_width(v[i]);
        if (!w)
            w = 1;
        bool followed_by_whitespace = i + w >= len || is_blank_at(v, len, i + w);
        if (i == 0) {
            switch (v[i]) {
            case '#':
            case ',':
            case '[':
            case ']':
            case '{':
            case '}':
            case '&':
            case '*':
            case '!':
            case '|':
            case '>':
            case '\'':
            case '"':
            case '%':
            case '@':
            case '`': block_indicators = true; break;
            case '?':
            case ':':
            case '-':
                if (followed_by_whitespace)
                    block_indicators = true;
                break;
            }
        } else {
            if (v[i] == ':' && followed_by_whitespace)
                block_indicators = true;
            if (v[i] == '#' && preceded_by_whitespace)
                block_indicators = true;
        }
        if (v[i] == '\t')
            tabs = true;
        else if (!is_printable_at(v, len, i))
            special = true;
        if (is_space_at(v, len, i)) {
            if (i == 0)
                leading_space = true;
            if (i + w == len)
                trailing_space = true;
            if (previous_break)
                break_space = true;
            previous_space = true;
            previous_break = false;
        } else if (is_break_at(v, len, i)) {
            line_breaks = true;
            if (i == 0)
                leading_break = true;
            if (i + w == len)
                trailing_break = true;
            if (previous_space)
                space_break = true;
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = is_blank_or_zero_at(v, len, i);
    }
    a->multiline = line_breaks;
    a->block_plain_allowed = true;
    a->single_quoted_allowed = true;
    a->block_allowed = true;
    if (leading_space || leading_break || trailing_space || trailing_break)
        a->block_plain_allowed = false;
    if (trailing_space)
        a->block_allowed = false;
    if (break_space) {
        a->block_plain_allowed = false;
        a->single_quoted_allowed = false;
    }
    if (space_break || tabs || special) {
        a->block_plain_allowed = false;
        a->single_quoted_allowed = false;
    }
    if (space_break || special)
        a->block_allowed = false;
    if (line_breaks)
        a->block_plain_allowed = false;
    if (block_indicators)
        a->block_plain_allowed = false;
}

static void write_plain(struct emitter *e, const char *s, size_t len)
{
    if (len > 0 && !e->whitespace)
        put(e, ' ');
    /* with unlimited width and no line breaks (they forbid plain style) this is a copy */
    for (size_t i = 0; i < len;)
        write_char(e, s, &i);
    if (len > 0)
        e->whitespace = false;
    e->indention = false;
}

static void write_single_quoted(struct emitter *e, const char *s, size_t len)
{
    const unsigned char *v = (const unsigned char *)s;
    write_indicator(e, "'", true, false, false);
    bool breaks = false;
    for (size_t i = 0; i < len;) {
        if (is_space_at(v, len, i)) {
            write_char(e, s, &i);
        } else if (is_break_at(v, len, i)) {
            if (!breaks && s[i] == '\n')
                put_break(e);
            write_break(e, s, &i);
            breaks = true;
        } else {
            if (breaks)
                write_indent(e);
            if (s[i] == '\'')
                put(e, '\'');
            write_char(e, s, &i);
            e->indention = false;
            breaks = false;
        }
    }
    write_indicator(e, "'", false, false, false);
    e->whitespace = false;
    e->indention = false;
}

static void write_double_quoted(struct emitter *e, const char *s, size_t len)
{
    const unsigned char *v = (const unsigned char *)s;
    /* go-yaml's isBOM looks at the start of the value whatever the index: reproduce it */
    bool starts_with_bom = len >= 3 && v[0] == 0xEF && v[1] == 0xBB && v[2] == 0xBF;
    write_indicator(e, "\"", true, false, false);
    for (size_t i = 0; i < len;) {
        if (!is_printable_at(v, len, i) || starts_with_bom || is_break_at(v, len, i) || s[i] == '"' || s[i] == '\\') {
            size_t w = utf8_width(v[i]);
            if (!w || i + w > len)
                w = 1;
            uint32_t c = utf8_decode(v + i, w);
            i += w;
            put(e, '\\');
            switch (c) {
            case 0x00: put(e, '0'); break;
            case 0x07: put(e, 'a'); break;
            case 0x08: put(e, 'b'); break;
            case 0x09: put(e, 't'); break;
            case 0x0A: put(e, 'n'); break;
            case 0x0B: put(e, 'v'); break;
            case 0x0C: put(e, 'f'); break;
            case 0x0D: put(e, 'r'); break;
            case 0x1B: put(e, 'e'); break;
            case 0x22: put(e, '"'); break;
            case 0x5C: put(e, '\\'); break;
            case 0x85: put(e, 'N'); break;
            case 0xA0: put(e, '_'); break;
            case 0x2028: put(e, 'L'); break;
            case 0x2029: put(e, 'P'); break;
            default: {
                int digits;
                if (c <= 0xFF) {
                    put(e, 'x');
                    digits = 2;
                } else if (c <= 0xFFFF) {
                    put(e, 'u');
                    digits = 4;
                } else {
                    put(e, 'U');
                    digits = 8;
                }
                for (int k = (digits - 1) * 4; k >= 0; k -= 4) {
                    unsigned d = (c >> k) & 0x0F;
                    put(e, (char)(d < 10 ? '0' + d : 'A' + d - 10));
                }
            }
            }
        } else {
            write_char(e, s, &i);
        }
    }
    write_indicator(e, "\"", false, false, false);
    e->whitespace = false;
    e->indention = false;
}

static void write_literal(struct emitter *e, const char *s, size_t len)
{
    const unsigned char *v = (const unsigned char *)s;
    write_indicator(e, "|", true, false, false);
    /* block scalar hints: indentation when the text starts with a space, then chomping */
    if (len && v[0] == ' ') {
        char hint[2] = {(char)('0' + BEST_INDENT), 0};
        write_indicator(e, hint, false, false, false);
    }
    const char *chomp = NULL;
    if (len == 0) {
        chomp = "-";
    } else {
        size_t i = len - 1;
        while (i > 0 && (v[i] & 0xC0) == 0x80)
            i--;
        if (!is_break_at(v, len, i)) {
            chomp = "-";
        } else if (i == 0) {
            chomp = "+";
        } else {
            i--;
            while (i > 0 && (v[i] & 0xC0) == 0x80)
                i--;
            if (is_break_at(v, len, i))
                chomp = "+";
        }
    }
    if (chomp)
        write_indicator(e, chomp, false, false, false);
    put_break(e);
    e->whitespace = true;
    bool breaks = true;
    for (size_t i = 0; i < len;) {
        if (is_break_at(v, len, i)) {
            write_break(e, s, &i);
            breaks = true;
        } else {
            if (breaks)
                write_indent(e);
            write_char(e, s, &i);
            e->indention = false;
            breaks = false;
        }
    }
}

static bool is_old_bool(const char *s, size_t len)
{
    static const char *const words[] = {"y", "Y",  "yes", "Yes", "YES", "on",  "On",  "ON", "n",
                                        "N", "no", "No",  "NO",  "off", "Off", "OFF", NULL};
    for (const char *const *w = words; *w; w++)
        if (strlen(*w) == len && !memcmp(*w, s, len))
            return true;
    return false;
}

/* ^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$ */
static bool is_base60_float(const char *s, size_t len)
{
    size_t i = 0;
    if (!len || !memchr(s, ':', len))
        return false;
    if (s[0] == '+' || s[0] == '-')
        i++;
    if (i >= len || s[i] < '0' || s[i] > '9')
        return false;
    for (i++; i < len && ((s[i] >= '0' && s[i] <= '9') || s[i] == '_'); i++)
        ;
    int groups = 0;
    while (i < len && s[i] == ':') {
        i++;
        if (i >= len || s[i] < '0' || s[i] > '9')
            return false;
        if (s[i] <= '5' && i + 1 < len && s[i + 1] >= '0' && s[i + 1] <= '9')
            i += 2;
        else
            i += 1;
        groups++;
    }
    if (!groups)
        return false;
    if (i < len && s[i] == '.')
        for (i++; i < len && ((s[i] >= '0' && s[i] <= '9') || s[i] == '_'); i++)
            ;
    return i == len;
}

static bool should_use_literal(const char *s, size_t len)
{
    if (len < 2 || !memchr(s, '\n', len))
        return false;
    for (size_t i = 0; i < len;) {
        size_t w = utf8_width((unsigned char)s[i]);
        if (!w || i + w > len)
            w = 1;
        if (!rune_is_space(utf8_decode((const unsigned char *)s + i, w)))
            return true;
        i += w;
    }
    return false;
}

/* The style go-yaml's representer + desolver ask for when marshalling a Go string. */
static enum scalar_style requested_string_style(const char *s, size_t len)
{
    if (memchr(s, '\n', len))
        return should_use_literal(s, len) ? STYLE_LITERAL : STYLE_DOUBLE;
    if (is_base60_float(s, len) || is_old_bool(s, len) || (len == 2 && !memcmp(s, "<<", 2)))
        return STYLE_SINGLE;
    if (yaml_plain_is_non_string(s, len))
        return STYLE_DOUBLE;
    return STYLE_PLAIN;
}

/* render a non-string scalar's text (always plain: it resolves back to its own type) */
static const char *scalar_text(const struct yaml_value *v, char buf[48], size_t *len)
{
    switch (v->type) {
    case YAML_VALUE_NULL: strcpy(buf, "null"); break;
    case YAML_VALUE_BOOL: strcpy(buf, v->boolean ? "true" : "false"); break;
    case YAML_VALUE_INT: snprintf(buf, 48, "%" PRId64, v->integer); break;
    case YAML_VALUE_UINT: snprintf(buf, 48, "%" PRIu64, v->uinteger); break;
    case YAML_VALUE_FLOAT: yaml_format_float(v->number, buf); break;
    case YAML_VALUE_STRING:
    case YAML_VALUE_TIMESTAMP: *len = v->length; return v->text;
    default: buf[0] = '\0'; break;
    }
    *len = strlen(buf);
    return buf;
}

static void emit_scalar(struct emitter *e, const struct yaml_value *v, bool in_sequence_item, bool simple_key)
{
    char buf[48];
    size_t len;
    const char *text = scalar_text(v, buf, &len);
    enum scalar_style style = v->type == YAML_VALUE_STRING ? requested_string_style(text, len) : STYLE_PLAIN;
    struct analysis a;
    analyze(text, len, &a);
    /* selectScalarStyle, block context (flow level 0) */
    if (simple_key && a.multiline)
        style = STYLE_DOUBLE;
    if (style == STYLE_PLAIN) {
        if (!a.block_plain_allowed)
            style = STYLE_SINGLE;
        if (len == 0 && simple_key)
            style = STYLE_SINGLE;
    }
    if (style == STYLE_SINGLE && !a.single_quoted_allowed)
        style = STYLE_DOUBLE;
    if (style == STYLE_LITERAL && (!a.block_allowed || simple_key))
        style = STYLE_DOUBLE;
    increase_indent(e, true, in_sequence_item);
    switch (style) {
    case STYLE_PLAIN: write_plain(e, text, len); break;
    case STYLE_SINGLE: write_single_quoted(e, text, len); break;
    case STYLE_DOUBLE: write_double_quoted(e, text, len); break;
    case STYLE_LITERAL: write_literal(e, text, len); break;
    }
    decrease_indent(e);
}

static void emit_node(struct emitter *e, const struct yaml_value *v, bool in_sequence_item);

static void emit_empty_flow(struct emitter *e, const char *open, const char *close)
{
    write_indicator(e, open, true, true, false);
    increase_indent(e, true, false);
    decrease_indent(e);
    if (e->column == 0)
        write_indent(e);
    write_indicator(e, close, false, false, false);
}

static void emit_sequence(struct emitter *e, const struct yaml_value *v, bool in_sequence_item)
{
    increase_indent(e, false, in_sequence_item);
    for (size_t i = 0; i < v->count; i++) {
        write_indent(e);
        write_indicator(e, "-", true, false, true);
        emit_node(e, v->items[i], true);
    }
    decrease_indent(e);
}

static void emit_mapping(struct emitter *e, const struct yaml_value *v, bool in_sequence_item)
{
    increase_indent(e, false, in_sequence_item);
    for (size_t i = 0; i + 1 < v->count; i += 2) {
        const struct yaml_value *key = v->items[i], *value = v->items[i + 1];
        write_indent(e);
        /* checkSimpleKey: a one-line scalar of at most 128 bytes */
        bool simple = false;
        if (key->type != YAML_VALUE_SEQUENCE && key->type != YAML_VALUE_MAPPING) {
            char buf[48];
            size_t len;
            const char *text = scalar_text(key, buf, &len);
            struct analysis a;
            analyze(text, len, &a);
            simple = !a.multiline && len <= 128;
        } else {
            simple = key->count == 0;
        }
        if (simple) {
            if (key->type == YAML_VALUE_SEQUENCE)
                emit_empty_flow(e, "[", "]");
            else if (key->type == YAML_VALUE_MAPPING)
                emit_empty_flow(e, "{", "}");
            else
                emit_scalar(e, key, false, true);
            write_indicator(e, ":", false, false, false);
        } else {
            write_indicator(e, "?", true, false, true);
            if (key->type == YAML_VALUE_SEQUENCE || key->type == YAML_VALUE_MAPPING)
                emit_node(e, key, false);
            else
                emit_scalar(e, key, false, false);
            write_indent(e);
            write_indicator(e, ":", true, false, true);
        }
        emit_node(e, value, false);
    }
    decrease_indent(e);
}

static void emit_node(struct emitter *e, const struct yaml_value *v, bool in_sequence_item)
{
    switch (v->type) {
    case YAML_VALUE_SEQUENCE:
        if (v->count == 0)
            emit_empty_flow(e, "[", "]");
        else
            emit_sequence(e, v, in_sequence_item);
        break;
    case YAML_VALUE_MAPPING:
        if (v->count == 0)
            emit_empty_flow(e, "{", "}");
        else
            emit_mapping(e, v, in_sequence_item);
        break;
    default: emit_scalar(e, v, in_sequence_item, false); break;
    }
}

static int check_strings(const struct yaml_value *v, int depth, struct error *err)
{
    if (depth > YAML_DOCUMENT_MAX_DEPTH)
        return error_set(err, ERROR_INPUT, "value nested too deeply to encode");
    if ((v->type == YAML_VALUE_STRING || v->type == YAML_VALUE_TIMESTAMP) &&
        (!utf8_valid(v->text, v->length) || memchr(v->text, '\0', v->length)))
        return error_set(err, ERROR_INPUT, "cannot encode a string that is not valid UTF-8 text: '%.60s'", v->text);
    for (size_t i = 0; i < v->count; i++)
        if (check_strings(v->items[i], depth + 1, err) < 0)
            return -1;
    return 0;
}

int yaml_value_encode(const struct yaml_value *root, struct buffer *out, struct error *err)
{
    if (check_strings(root, 0, err) < 0)
        return -1;
    struct emitter e;
    memset(&e, 0, sizeof e);
    e.out = out;
    e.indent = -1;
    e.whitespace = true;
    e.indention = true;
    emit_node(&e, root, false);
    /* document end: implicit, so only a final line break */
    e.indent = -1;
    write_indent(&e);
    return 0;
}
