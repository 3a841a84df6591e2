import { user } from "@web/core/user";

/**
 * Shared by the smart routing tours (prices, strategy, quality, send preview). They also
 * run in French: a label the tour expects on the screen is given in both languages and the
 * one of the user's language is asserted, which checks that the French one is there.
 */

export function inFrench() {
    return (user.lang || "").startsWith("fr");
}

/** The text expected on the screen: ``en``, or ``fr`` for a user who reads French. */
export function label(en, fr) {
    return inFrench() ? fr : en;
}
