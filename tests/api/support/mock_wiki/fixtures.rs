//! The standard fixtures' texts, kept apart so that `MockWiki::add_standard_fixtures` stays
//! readable.

/// "Prosa": plain prose, no markup. Revision 1 inserts `PROSA_ADDED` after
/// `PROSA_ANCHOR` (mid-text); revision 2 fixes the typo `PROSA_TYPO`.
pub fn prosa() -> String {
    [
        "A cidade situa-se na margem norte de um grande rio, perto do ponto onde este se \
         alarga num estuário de águas calmas. Ao longo dos séculos, a posição junto ao rio \
         fez dela um porto importante, frequentado por navegadores, mercadores e \
         pescadores vindos de muitas terras distantes.",
        "O centro histórico estende-se por várias colinas, ligadas por ruas estreitas, \
         escadarias e pequenos largos onde crescem árvores antigas. As casas têm fachadas \
         coloridas e muitas estão cobertas de azulejos, que protegem as paredes da \
         humidade e refletem a luz do sol ao fim da tarde. Os moradores mais velhos \
         lembram-se de um tempo em que os elétricos eram o único transporte público da \
         cidadde e em que cada bairro tinha a sua própria festa de verão.",
        "No século dezoito, um grande terramoto destruiu boa parte dos edifícios da parte \
         baixa. A reconstrução seguiu um plano novo, com ruas largas e direitas, \
         quarteirões regulares e edifícios de altura semelhante, pensados para resistir \
         melhor a futuros abalos. Esse plano ainda hoje marca a paisagem urbana e é \
         estudado por arquitetos de todo o mundo.",
        "A vida cultural é intensa durante todo o ano. Há museus dedicados à pintura, à \
         música e à história marítima, teatros com programação variada e livrarias onde \
         se organizam encontros com escritores. No verão, as noites enchem-se de música \
         nas praças, e os visitantes misturam-se com os habitantes em longas conversas \
         que se prolongam até de madrugada.",
        "A gastronomia local deve muito ao mar e ao rio. Nos restaurantes dos bairros \
         antigos servem-se peixes grelhados, caldeiradas e arroz de marisco, acompanhados \
         de pão caseiro e de vinhos das regiões vizinhas. As pastelarias, por sua vez, \
         orgulham-se de receitas conventuais com séculos de história, feitas com ovos, \
         açúcar e amêndoa, que os turistas provam com curiosidade.",
    ]
    .join("\n\n")
        + "\n"
}
pub const PROSA_ANCHOR: &str = "refletem a luz do sol ao fim da tarde.";
pub const PROSA_ADDED: &str =
    "Em alguns bairros, os azulejos mais antigos foram classificados como património.";
pub const PROSA_TYPO: &str = "cidadde";
pub const PROSA_FIXED: &str = "cidade";

pub const LIGACOES_0: &str = "'''Ligações''' é uma página de teste sobre [[Lisboa]] e o \
[[porto|Porto]], com ligações de todos os tipos.\n\n\
Veja também a categoria [[:Categoria:Vilas]] e o ficheiro [[:Ficheiro:Mapa.png]]. \
Mais abaixo está a [[#Secção]], e a [[Lisboa#História]] da capital é longa.\n\n\
[[Ficheiro:Mapa.png|thumb|Mapa]]\n\
[[Imagem:Outro.jpg]]\n\n\
{{Predefinição:Info|[[Braga]]}}\n\n\
A palavra [[wikt:casa]] tem entrada no dicionário.\n\n\
== Secção ==\n\
Texto da secção.\n\n\
[[Categoria:Cidades]]\n\
[[en:Lisbon]]\n";

pub const LIGACOES_1: &str = "'''Ligações''' é uma página de teste sobre [[Lisboa]], \
[[Coimbra]] e o [[Faro|Algarve]], com ligações de todos os tipos.\n\n\
Veja também a categoria [[:Categoria:Vilas]] e o ficheiro [[:Ficheiro:Mapa.png]]. \
Mais abaixo está a [[#Secção]], e a [[Lisboa#História]] da capital é longa.\n\n\
[[Ficheiro:Mapa.png|thumb|Mapa]]\n\
[[Imagem:Outro.jpg]]\n\
[[Ficheiro:Novo.png]]\n\n\
{{Predefinição:Info|[[Braga]]}}\n\n\
A palavra [[wikt:casa]] tem entrada no dicionário.\n\n\
== Secção ==\n\
Texto da secção.\n\n\
[[Categoria:Cidades]]\n\
[[Categoria:Novas]]\n\
[[en:Lisbon]]\n";

pub const REFERENCIAS_0: &str = "A vila foi fundada no século XII.<ref>Fonte A</ref> \
O porto cresceu no século XV.<ref name=\"b\">Fonte B</ref> O comércio com o norte da Europa \
também.<ref name=\"b\" />\n\n\
== Referências ==\n\
<references />\n";

pub const REFERENCIAS_1: &str = "A vila foi fundada no século XII. \
O porto cresceu no século XV.<ref name=\"b\">Fonte B</ref> O comércio com o norte da Europa \
também.<ref name=\"b\" /> A população duplicou no século XIX.<ref>Fonte C</ref> \
A estação de comboios abriu em 1890.<ref name=d>Fonte   D</ref> A linha ainda hoje serve a \
região.<ref name=\"b\"/>\n\n\
== Referências ==\n\
<references />\n";

pub const PREDEFINICOES_0: &str = "{{Info|a=1}}\nUm texto curto, apenas com uma caixa de \
informação.\n";

pub const PREDEFINICOES_1: &str = "{{Info|a=1}}\nUm texto curto, apenas com uma caixa de \
informação.\n{{Citação|texto}}\n\n{{Ver também|Lisboa}}\n";

pub const TOKYO_0: &str = "東京都は日本の首都であり、関東地方の南部に位置している。\
人口はおよそ千四百万人で、日本で最も人口の多い都道府県である。\
江戸時代には江戸と呼ばれ、徳川幕府の政治の中心地として大いに栄えた。\
明治維新の後、天皇が京都から移り、都市の名前は東京に改められた。\n\n\
都の東部には二十三の特別区があり、西部には多くの市や町が広がっている。\
新宿、渋谷、池袋などの繁華街は、昼も夜も多くの人々でにぎわっている。\n\n\
鉄道と地下鉄の路線網は非常に発達しており、都内のほとんどの地域を結んでいる。\
東京駅は新幹線の起点であり、全国の主要な都市へ向かう列車が毎日数多く発着している。\n\n\
浅草寺や明治神宮などの名所には、国内外から多くの観光客が訪れる。\n";

pub const TOKYO_ADDED: &str = "\n東京と[[大阪]]の間は、新幹線でおよそ二時間半で結ばれている。\n";

/// "Criação": a page created in one edit, ~3 KB, two links and one reference.
pub fn criacao() -> String {
    [
        "'''Vale do Sossego''' é uma aldeia do interior de [[Portugal]], situada numa \
         encosta virada a sul, a pouca distância do [[Rio Douro]]. A povoação tem pouco \
         mais de trezentos habitantes, na sua maioria dedicados à agricultura, à criação \
         de gado e ao pequeno comércio local.",
        "== História ==\nOs primeiros registos escritos da aldeia datam do século treze, \
         quando as terras pertenciam a um mosteiro da região. Durante vários séculos, os \
         habitantes pagaram ao mosteiro uma parte das colheitas de cereais, de vinho e de \
         azeite. A igreja matriz foi construída no século dezasseis e ampliada duas vezes, \
         a última das quais no início do século vinte.",
        "No século dezanove, muitos jovens partiram para o Brasil à procura de trabalho. \
         Alguns regressaram com fortuna e mandaram construir casas grandes, com jardins e \
         varandas de ferro, que ainda hoje se distinguem das habitações mais modestas da \
         aldeia. Essas casas são conhecidas localmente como casas de brasileiro.",
        "== Geografia ==\nO território da aldeia é acidentado, com vales profundos e \
         pequenos planaltos onde se cultivam vinhas e olivais. O clima é mediterrânico, \
         com verões quentes e secos e invernos frescos e chuvosos. Nos meses mais frios, \
         o nevoeiro sobe do vale ao amanhecer e só se dissipa perto do meio-dia.",
        "== Economia ==\nA produção de vinho é a principal atividade económica. Várias \
         quintas da zona exportam os seus vinhos para outros países europeus, e nos \
         últimos anos surgiram também pequenas unidades de turismo rural, que recebem \
         visitantes interessados nas vindimas, nas caminhadas e na gastronomia tradicional.",
        "== Demografia ==\nSegundo o recenseamento mais recente, a população tem vindo a \
         diminuir e a envelhecer, à semelhança do que acontece noutras aldeias do interior.\
         <ref>Instituto Nacional de Estatística, Censos 2021, resultados definitivos.</ref> \
         A escola primária fechou há alguns anos, e as crianças deslocam-se agora de \
         autocarro até à sede do concelho.",
        "== Cultura ==\nA festa anual em honra do padroeiro realiza-se no primeiro \
         domingo de agosto e atrai muitos emigrantes que regressam nas férias de verão. \
         Há procissão, música tradicional, um arraial com comes e bebes e, ao fim da \
         noite, fogo de artifício sobre o vale.",
        "== Património ==\nAlém da igreja matriz, a aldeia conserva uma capela \
         românica, um cruzeiro de granito e vários fornos comunitários, onde as famílias \
         coziam o pão uma vez por semana. O antigo lagar de azeite, movido a água, foi \
         recuperado pela junta de freguesia e funciona hoje como pequeno museu, com \
         ferramentas agrícolas, fotografias antigas e objetos doados pelos moradores. Os \
         caminhos de pedra que ligam a aldeia às quintas vizinhas foram assinalados como \
         percursos pedestres e são muito procurados na primavera, quando as encostas se \
         cobrem de flores silvestres e as amendoeiras estão em flor.",
        "== Referências ==\n<references />",
    ]
    .join("\n\n")
        + "\n"
}

pub const VANDALISMO_0: &str = "O '''castelo''' ergue-se no ponto mais alto da vila, \
sobre um afloramento de granito que domina todo o vale. A sua construção começou no século \
doze, no tempo das lutas pela fixação da fronteira, e prolongou-se por várias gerações.\n\n\
As muralhas, com cerca de trezentos metros de perímetro, são reforçadas por quatro torres \
quadrangulares. A torre de menagem, a mais alta, servia de residência ao alcaide e de último \
refúgio em caso de cerco. No pátio interior ainda se vê a cisterna que garantia a água \
durante os meses de verão.\n\n\
Depois de séculos de abandono, o castelo foi restaurado em meados do século vinte e é hoje \
monumento nacional, aberto a visitas durante todo o ano. Do alto da torre avista-se, nos \
dias limpos, a serra e as aldeias vizinhas, e no verão o adro recebe concertos e uma feira \
medieval que atrai milhares de pessoas.\n";
