/* placeholder until js-snippet builds */
