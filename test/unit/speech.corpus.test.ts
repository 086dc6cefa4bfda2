import { describe, expect, test } from "../support/test.ts"
import { makeSpeechNormaliser } from "../../src/speech/normalise.ts"
import { seeded } from "../support/seeded.ts"

/**
 * What the caller hears, pinned down: each French case (input → spoken) fed whole, one character at a time,
 * in 3-character chunks and in seeded random chunkings — the speech must be the same every way.
 */

const CORPUS: ReadonlyArray<readonly [string, string]> = [
  // -- markdown --
  ["**Mardi** à 10 heures.", "Mardi à 10 heures."],
  ["C'est __très__ simple.", "C'est très simple."],
  ["C'est *possible* demain.", "C'est possible demain."],
  ["C'est _possible_ demain.", "C'est possible demain."],
  ["Un ~~mardi~~ mercredi.", "Un mardi mercredi."],
  ["## Nos horaires\nNous ouvrons le mardi.", "Nos horaires. Nous ouvrons le mardi."],
  ["# Bienvenue", "Bienvenue"],
  ["Voici :\n- une coupe\n- un brushing", "Voici : une coupe. un brushing"],
  ["Voici :\n* une coupe\n* un brushing", "Voici : une coupe. un brushing"],
  ["Étapes :\n1. venir\n2. payer", "Étapes : venir. payer"],
  ["Le code `ABC` est valable.", "Le code ABC est valable."],
  ["```\nbonjour\n```", "bonjour. "],
  ["Voir [notre site](https://salon.fr) pour les tarifs.", "Voir notre site pour les tarifs."],
  ["Voir [la page des tarifs du salon](https://salon.fr/tarifs) ici.", "Voir la page des tarifs du salon ici."],
  ["> Une citation utile.", "Une citation utile."],
  ["Premier point.\n\n---\n\nSecond point.", "Premier point. Second point."],
  ["| Jour | Horaires |\n|---|---|\n| Mardi | 9h-12h |", "Jour , Horaires , Mardi , 9 heures à midi ,"],
  ["**Attention** : le salon ferme **tôt**.", "Attention : le salon ferme tôt."],
  ["Le ***mardi*** seulement.", "Le mardi seulement."],
  ["Bonjour,\nje regarde.", "Bonjour, je regarde."],
  ["Ligne un\nLigne deux", "Ligne un. Ligne deux"],
  ["- Coupe femme : 45 minutes\n- Coupe homme : 30 minutes", "Coupe femme : 45 minutes. Coupe homme : 30 minutes"],
  ["### Tarifs\n**Coupe** : 30 €", "Tarifs. Coupe : 30 euros"],
  ["Le fichier mon_fichier reste.", "Le fichier mon_fichier reste."],
  // -- emoji and symbols --
  ["Avec plaisir ! 😊", "Avec plaisir ! "],
  ["C'est noté 👍.", "C'est noté ."],
  ["Bonne journée 🌞🌸 !", "Bonne journée !"],
  ["Parfait ✅ c'est réservé.", "Parfait c'est réservé."],
  ["À bientôt 👋🏽", "À bientôt "],
  ["Merci ❤️ !", "Merci !"],
  ["Famille 👨‍👩‍👧 bienvenue.", "Famille bienvenue."],
  ["Paris 🇫🇷 est loin.", "Paris est loin."],
  ["Mardi → mercredi.", "Mardi mercredi."],
  ["• Coupe • Couleur", "Coupe Couleur"],
  ["Coupe & couleur.", "Coupe et couleur."],
  ["Shampoing + coupe.", "Shampoing plus coupe."],
  ["Mardi — ou mercredi.", "Mardi , ou mercredi."],
  ["Mardi - ou mercredi.", "Mardi , ou mercredi."],
  ["Il fait 20° dehors.", "Il fait 20 degrés dehors."],
  ["Environ ~10 minutes.", "Environ environ 10 minutes."],
  ["Le salon™ est ouvert.", "Le salon est ouvert."],
  // -- URLs and e-mail addresses --
  ["Allez sur https://www.salon-lumiere.fr.", "Allez sur salon tiret lumiere point f r."],
  ["Allez sur www.salon-lumiere.fr/tarifs pour voir.", "Allez sur salon tiret lumiere point f r slash tarifs pour voir."],
  ["Le site salon-lumiere.fr est à jour.", "Le site salon tiret lumiere point f r est à jour."],
  ["Voir https://example.com/a/b/c?x=1 pour tout.", "Voir example point com pour tout."],
  ["Réservez sur https://planity.com/salon-lumiere-paris.", "Réservez sur planity point com slash salon tiret lumiere tiret paris."],
  ["Écrivez à contact@salon-lumiere.fr.", "Écrivez à contact arobase salon tiret lumiere point f r."],
  ["Écrivez à prise.rdv@salon.fr ou appelez.", "Écrivez à prise point rdv arobase salon point f r ou appelez."],
  ["Mail : jean_dupont@gmail.com", "Mail : jean tiret bas dupont arobase gmail point com"],
  ["<https://salon.fr>", "salon point f r"],
  ["[contact@salon.fr](mailto:contact@salon.fr)", "contact arobase salon point f r"],
  ["Site : http://salon.re, merci.", "Site : salon point r e, merci."],
  ["Sur le site www.exemple.com !", "Sur le site exemple point com !"],
  ["Sur https://salon.fr:8443/rdv.", "Sur salon point f r slash rdv."],
  ["L'adresse est info@coiffure-paris.com, voilà.", "L'adresse est info arobase coiffure tiret paris point com, voilà."],
  // -- times --
  ["Rendez-vous à 9h.", "Rendez-vous à 9 heures."],
  ["Rendez-vous à 9h00.", "Rendez-vous à 9 heures."],
  ["Rendez-vous à 09:00.", "Rendez-vous à 9 heures."],
  ["Rendez-vous à 9 h 00.", "Rendez-vous à 9 heures."],
  ["Rendez-vous à 9h30.", "Rendez-vous à 9 heures 30."],
  ["Rendez-vous à 9 h 30.", "Rendez-vous à 9 heures 30."],
  ["Rendez-vous à 12:00.", "Rendez-vous à midi."],
  ["Rendez-vous à 12h.", "Rendez-vous à midi."],
  ["Rendez-vous à 00:00.", "Rendez-vous à minuit."],
  ["Rendez-vous à 0h.", "Rendez-vous à minuit."],
  ["Rendez-vous à 13h45.", "Rendez-vous à 13 heures 45."],
  ["Rendez-vous à 13:45.", "Rendez-vous à 13 heures 45."],
  ["Rendez-vous à 1h.", "Rendez-vous à une heure."],
  ["Rendez-vous à 21h.", "Rendez-vous à vingt et une heures."],
  ["Rendez-vous à 21h15.", "Rendez-vous à vingt et une heures 15."],
  ["Rendez-vous à 12h30.", "Rendez-vous à midi et demi."],
  ["Rendez-vous à 12h15.", "Rendez-vous à midi 15."],
  ["Rendez-vous à 9H15.", "Rendez-vous à 9 heures 15."],
  ["Rendez-vous à 9h05.", "Rendez-vous à 9 heures 5."],
  ["Ouvert de 9h à 18h.", "Ouvert de 9 heures à 18 heures."],
  ["Ouvert 9h-12h et 14h-19h.", "Ouvert 9 heures à midi et 14 heures à 19 heures."],
  ["Ouvert 9 h - 12 h.", "Ouvert 9 heures à midi."],
  ["Ouvert 09:00–18:30.", "Ouvert 9 heures à 18 heures 30."],
  ["Ouvert jusqu'à 24h.", "Ouvert jusqu'à minuit."],
  ["Ouvert 24h/24.", "Ouvert 24 heures sur 24."],
  ["Ouvert 7j/7.", "Ouvert 7 jours sur 7."],
  ["Ouvert 24 h / 24 et 7 j / 7.", "Ouvert 24 heures sur 24 et 7 jours sur 7."],
  ["Il faut compter 48h.", "Il faut compter 48 heures."],
  ["Il faut compter 1 heure.", "Il faut compter une heure."],
  ["Il est 21 heures.", "Il est vingt et une heures."],
  ["Il dure 45 min.", "Il dure 45 minutes."],
  ["Il dure 1 min.", "Il dure une minute."],
  ["Il dure 21 minutes.", "Il dure vingt et une minutes."],
  ["Pause de 30mn.", "Pause de 30 minutes."],
  ["À 9 heures 30 précises.", "À 9 heures 30 précises."],
  // -- dates --
  ["Le mardi 1 décembre.", "Le mardi 1er décembre."],
  ["Le 1 janvier 2027.", "Le 1er janvier 2027."],
  ["Le 1er décembre.", "Le 1er décembre."],
  ["Le 11 décembre.", "Le 11 décembre."],
  ["Le 21 mars.", "Le 21 mars."],
  ["Le 2026-12-01 à 10h.", "Le 1er décembre 2026 à 10 heures."],
  ["Le 2026-12-15.", "Le 15 décembre 2026."],
  ["Le 01/12/2026.", "Le 1er décembre 2026."],
  ["Le 25/12/2026 nous sommes fermés.", "Le 25 décembre 2026 nous sommes fermés."],
  ["Le 1 Août.", "Le 1er Août."],
  ["Réf 2026-13-45.", "Réf 2026-13-45."],
  // -- phone numbers --
  ["Appelez le +33611223344.", "Appelez le 06 11 22 33 44."],
  ["Appelez le 0611223344.", "Appelez le 06 11 22 33 44."],
  ["Appelez le 06.11.22.33.44.", "Appelez le 06 11 22 33 44."],
  ["Appelez le 06 11 22 33 44.", "Appelez le 06 11 22 33 44."],
  ["Appelez le 06-11-22-33-44.", "Appelez le 06 11 22 33 44."],
  ["Appelez le +33 6 11 22 33 44.", "Appelez le 06 11 22 33 44."],
  ["Appelez le +33 (0)6 11 22 33 44.", "Appelez le 06 11 22 33 44."],
  ["Appelez le 0033611223344.", "Appelez le 06 11 22 33 44."],
  ["Le fixe : 01 42 68 53 00.", "Le fixe : 01 42 68 53 00."],
  ["Le salon : +33939035760.", "Le salon : 09 39 03 57 60."],
  ["À la Réunion : +262692123456.", "À la Réunion : 0692 12 34 56."],
  ["À la Réunion : 0692 12 34 56.", "À la Réunion : 0692 12 34 56."],
  ["En Guadeloupe : +590590812345.", "En Guadeloupe : 0590 81 23 45."],
  ["En Martinique : +596696123456.", "En Martinique : 0696 12 34 56."],
  ["En Guyane : +594694123456.", "En Guyane : 0694 12 34 56."],
  ["À Mayotte : +262269611234.", "À Mayotte : 0269 61 12 34."],
  ["À Londres : +442079460958.", "À Londres : plus 44 20 7946 0958."],
  ["Numéro : +33611223344, merci.", "Numéro : 06 11 22 33 44, merci."],
  ["Le 06 11 22 33 44 ou le 07 12 34 56 78.", "Le 06 11 22 33 44 ou le 07 12 34 56 78."],
  ["Code 12345.", "Code 12345."],
  // -- prices --
  ["La coupe coûte 89 €.", "La coupe coûte 89 euros."],
  ["La coupe coûte 89€.", "La coupe coûte 89 euros."],
  ["Le soin coûte 12,50 €.", "Le soin coûte 12 euros 50."],
  ["Le soin coûte 12.50€.", "Le soin coûte 12 euros 50."],
  ["Le soin coûte 12,5 €.", "Le soin coûte 12 euros 50."],
  ["Le soin coûte 12,00 €.", "Le soin coûte 12 euros."],
  ["Le soin coûte 45 EUR.", "Le soin coûte 45 euros."],
  ["Le soin coûte 89,50 EUR.", "Le soin coûte 89 euros 50."],
  ["Le soin coûte 1 €.", "Le soin coûte 1 euro."],
  ["Le supplément est de 0,50 €.", "Le supplément est de 50 centimes."],
  ["Le forfait : 1 200 €.", "Le forfait : 1200 euros."],
  ["Le prix est de €25.", "Le prix est de 25 euros."],
  ["Comptez 30 euros.", "Comptez 30 euros."],
  ["Comptez 30,90 euros.", "Comptez 30 euros 90."],
  ["Une remise de 10 %.", "Une remise de 10 pour cent."],
  ["Une remise de 10%.", "Une remise de 10 pour cent."],
  // -- abbreviations --
  ["Votre RDV est confirmé.", "Votre rendez-vous est confirmé."],
  ["Votre rdv est confirmé.", "Votre rendez-vous est confirmé."],
  ["Deux RDVs pris.", "Deux rendez-vous pris."],
  ["Bonjour M. Dupont.", "Bonjour monsieur Dupont."],
  ["Bonjour Mme Dupont.", "Bonjour madame Dupont."],
  ["Bonjour Mlle Dupont.", "Bonjour mademoiselle Dupont."],
  ["Bonjour Mr Dupont.", "Bonjour monsieur Dupont."],
  ["Le Dr Martin vous recevra.", "Le docteur Martin vous recevra."],
  ["Le Dr. Martin vous recevra.", "Le docteur Martin vous recevra."],
  ["Le Pr Martin consulte.", "Le professeur Martin consulte."],
  ["Au n° 12 de la rue.", "Au numéro 12 de la rue."],
  ["Au N° 12 de la rue.", "Au numéro 12 de la rue."],
  ["Tél. : 01 42 68 53 00", "téléphone : 01 42 68 53 00"],
  ["Coupe, couleur, etc. Tout est possible.", "Coupe, couleur, et cetera. Tout est possible."],
  ["Coupe, couleur, etc., tout est possible.", "Coupe, couleur, et cetera. tout est possible."],
  ["Il faut env. 20 minutes.", "Il faut environ 20 minutes."],
  ["Patientez svp.", "Patientez s'il vous plaît."],
  ["Le prix TTC est fixe.", "Le prix toutes taxes comprises est fixe."],
  ["Le prix HT est fixe.", "Le prix hors taxes est fixe."],
  ["Au 3 bd Voltaire.", "Au 3 boulevard Voltaire."],
  ["Au 3 av. Foch.", "Au 3 avenue Foch."],
  ["Un soin, c.-à-d. un massage.", "Un soin, c'est-à-dire un massage."],
  ["À 2 km du centre.", "À 2 kilomètres du centre."],
  ["Le salon #3 est fermé.", "Le salon numéro 3 est fermé."],
  ["Des produits bio, ex. des huiles.", "Des produits bio, par exemple des huiles."],
  // -- what must not change --
  ["Bonjour, que puis-je faire pour vous ?", "Bonjour, que puis-je faire pour vous ?"],
  ["Je regarde les disponibilités.", "Je regarde les disponibilités."],
  ["Aujourd'hui, c'est possible.", "Aujourd'hui, c'est possible."],
  ["Très bien, à mardi !", "Très bien, à mardi !"],
  ["Il reste 3 places.", "Il reste 3 places."],
  ["Nous sommes 2 coiffeuses.", "Nous sommes 2 coiffeuses."],
  ["Un homme et une femme.", "Un homme et une femme."],
  ["Le numéro 12.", "Le numéro 12."],
  ["En 2026, tout change.", "En 2026, tout change."],
  ["Le hammam est chaud.", "Le hammam est chaud."],
  ["« Coupe femme » dure 45 minutes.", "« Coupe femme » dure 45 minutes."],
  ["Oui… peut-être.", "Oui… peut-être."],
  ["Le mardi 3 décembre à 14 heures 30.", "Le mardi 3 décembre à 14 heures 30."],
  ["C'est à deux pas, rue de la Paix.", "C'est à deux pas, rue de la Paix."],
  ["Mon nom ? Marie.", "Mon nom ? Marie."],
  // -- whitespace --
  ["  Bonjour   madame.  ", "Bonjour madame. "],
  ["Bonjour\n\n\nmadame.", "Bonjour. madame."],
  ["Bonjour.\nÀ bientôt.", "Bonjour. À bientôt."],
  ["Bonjour :\nà bientôt.", "Bonjour : à bientôt."],
  // -- plain words that something glued to them turns into an address or a symbol --
  ["Contact : Salon.fr ou Info@Exemple.com", "Contact : Salon point f r ou Info arobase Exemple point com"],
  ["Voir Www.Salon.fr.", "Voir Salon point f r."],
  ["Rock&Roll ce soir.", "Rock et Roll ce soir."],
  ["Merci😊!", "Merci!"],
  ["Le code abc123 marche.", "Le code abc123 marche."],
  ["Allez à l'hôtel**Lumière**.", "Allez à l'hôtelLumière."],
  ["Dites-lui RDVmardi", "Dites-lui RDVmardi"],
  ["Bonjour!Ça va ?", "Bonjour!Ça va ?"],
  // -- a messy reply --
  [
    "**Parfait !** 😊 Votre RDV est le mardi 1 décembre à 9h30. On vous rappelle au +33611223344. Tarif : 89,50 €. Infos : https://salon.fr",
    "Parfait ! Votre rendez-vous est le mardi 1er décembre à 9 heures 30. On vous rappelle au 06 11 22 33 44. Tarif : 89 euros 50. Infos : salon point f r"
  ]
]

const feed = (chunks: ReadonlyArray<string>): string => {
  const normaliser = makeSpeechNormaliser()
  return chunks.map((chunk) => normaliser.push(chunk)).join("") + normaliser.flush()
}

const everyN = (text: string, n: number) => Array.from({ length: Math.ceil(text.length / n) }, (_, i) => text.slice(i * n, i * n + n))

const randomChunks = (text: string, random: () => number): Array<string> => {
  const chunks: Array<string> = []
  for (let i = 0; i < text.length;) {
    const size = 1 + Math.floor(random() * 8)
    chunks.push(text.slice(i, i + size))
    i += size
  }
  return chunks
}

describe("speech corpus", () => {
  test("has at least 150 cases", () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(150)
  })

  test.each(CORPUS.map(([input, spoken], i) => [i, input, spoken] as const))("#%d %p → %p", (i, input, spoken) => {
    expect(feed([input])).toBe(spoken)
    expect(feed([...input])).toBe(spoken)
    expect(feed(everyN(input, 3))).toBe(spoken)
    const random = seeded(1000 + i)
    for (let round = 0; round < 8; round++) expect(feed(randomChunks(input, random))).toBe(spoken)
  })
})

describe("speech is the same however it is cut", () => {
  test("random mixes of the corpus, in random chunkings, say what the whole text says", () => {
    const random = seeded(7)
    const separators = [" ", "\n", "  ", "\n\n", ""]
    for (let round = 0; round < 300; round++) {
      const parts = Array.from({ length: 2 + Math.floor(random() * 4) }, () => CORPUS[Math.floor(random() * CORPUS.length)]![0])
      const text = parts.map((part, i) => (i === 0 ? part : separators[Math.floor(random() * separators.length)] + part)).join("")
      const whole = feed([text])
      expect(feed(randomChunks(text, random))).toBe(whole)
      expect(feed([...text])).toBe(whole)
    }
  })
})
